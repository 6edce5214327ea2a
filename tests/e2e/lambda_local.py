#!/usr/bin/env python3
"""Local Lambda invocation without Docker: the sample events of events/ sent with `cargo lambda
invoke` to the functions' own binaries, served by `cargo lambda watch`'s runtime emulator, over
AWS resources in moto configured by infra/local/env.json (the file `sam local invoke --env-vars`
takes; docs/deploy.md, "Invoking a function locally").

It creates the resources env.json names (the template's table, the queues, the files bucket) in
moto under a prefix of its own, the first admin key (`aos keys bootstrap --aws`), starts
`cargo lambda watch --only-lambda-apis` and the functions' debug binaries polling it (one process
per function, as Lambda runs them), and then, through `cargo lambda invoke --data-file`:

  1. api-runs with events/api-runs-submit.json (its sample key replaced by the real one, its step
     allowed 10 s so that it goes through its queue): 202 and a run id;
  2. orchestrator with events/orchestrator-sqs.json (its record carrying the Advance message
     api-runs sent): no batch item failures; the step task is on the json_transform queue;
  3. skill-json-transform with events/skill-json-transform-sqs.json (that task): no failures;
  4. orchestrator again with the next Advance: no failures;
  5. api-runs with events/api-runs-get.json (the run's id): 200, the run succeeded with the
     plan's output; then the sample submitted as it is, whose pure step the orchestrator runs
     inline: one orchestrator invocation finishes it, nothing on the json_transform queue;
  6. aggregator with events/aggregator-schedule.json: its summary names the tenant.

Every process is started by PID and stopped at the end. The binaries are the debug builds in the
cargo target dir (tests/e2e/lambda_local.sh builds them when missing); nothing is compiled here.

usage: lambda_local.py --moto URL [--port N] [--target-dir DIR] [--aos BIN] [--setup-only]
  --setup-only  create the resources of infra/local/env.json in moto (table, queues, bucket) and
                print an admin key, for `sam local invoke` against that moto; then exit
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import boto3
import yaml

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
ENV_FILE = ROOT / "infra" / "local" / "env.json"
# What the sample events carry, replaced by real values (as shared/aos-lambda/tests do).
SAMPLE_KEY = "aos_example_replace-with-your-api-key"
SAMPLE_RUN = "r_6f1c0e8d2b7a4c3e9d5f0a1b2c3d4e5f"
TENANT = "acme"
# The endpoint and name prefix env.json is written for; a test run uses its own.
FILE_ENDPOINT = "http://127.0.0.1:5000"
FILE_PREFIX = "aos-local"
FUNCTIONS = ["api-runs", "orchestrator", "skill-json-transform", "aggregator"]
AWS = {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


class Failed(Exception):
    pass


def log(msg):
    print(f"[lambda-local] {msg}", flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def local_env(endpoint, prefix):
    """infra/local/env.json's variables, pointed at this moto and this run's names."""
    params = json.loads(ENV_FILE.read_text())["Parameters"]
    return {k: v.replace(FILE_ENDPOINT, endpoint).replace(FILE_PREFIX, prefix) for k, v in params.items()}


class CfnLoader(yaml.SafeLoader):
    """template.yaml's intrinsic functions (!Ref, !Sub, ...) read as plain values."""


CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def setup(endpoint, env):
    """The resources env.json names: the table as template.yaml defines it, every queue of
    AOS_QUEUE_URLS, the files bucket."""
    session = boto3.session.Session(region_name=AWS["AWS_REGION"], aws_access_key_id="test", aws_secret_access_key="test")
    ddb, sqs, s3 = (session.client(s, endpoint_url=endpoint) for s in ("dynamodb", "sqs", "s3"))
    table = yaml.load((ROOT / "template.yaml").read_text(), Loader=CfnLoader)["Resources"]["Table"]["Properties"]
    ddb.create_table(
        TableName=env["AOS_TABLE"],
        BillingMode=table["BillingMode"],
        AttributeDefinitions=table["AttributeDefinitions"],
        KeySchema=table["KeySchema"],
        GlobalSecondaryIndexes=table["GlobalSecondaryIndexes"],
    )
    ddb.get_waiter("table_exists").wait(TableName=env["AOS_TABLE"])
    ddb.update_time_to_live(TableName=env["AOS_TABLE"], TimeToLiveSpecification=table["TimeToLiveSpecification"])
    urls = json.loads(env["AOS_QUEUE_URLS"])
    for url in urls.values():
        sqs.create_queue(QueueName=url.rsplit("/", 1)[1])
    s3.create_bucket(Bucket=env["AOS_FS_BUCKET"])
    return sqs, urls


def bootstrap_key(aos, endpoint, env):
    proc = subprocess.run(
        [aos, "keys", "bootstrap", "--aws", "--tenant", TENANT],
        env={**os.environ, **AWS, "AWS_ENDPOINT_URL": endpoint, "AOS_TABLE": env["AOS_TABLE"]},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        raise Failed(f"aos keys bootstrap failed: {proc.stderr}")
    return proc.stdout.strip().splitlines()[-1]


class Procs:
    def __init__(self, tmp):
        self.tmp, self.procs = tmp, []

    def start(self, name, cmd, env):
        out = open(self.tmp / f"{name}.log", "w")
        p = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append((name, p))
        return p

    def log(self, name, lines=30):
        path = self.tmp / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop_all(self):
        for _, p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for _, p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def totals(value):
    """Every value of a `total` member anywhere in `value`."""
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == "total"] + [t for v in value.values() for t in totals(v)]
    if isinstance(value, list):
        return [t for v in value for t in totals(v)]
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--moto", default=os.environ.get("AOS_TEST_MOTO_URL"), help="moto server URL (default $AOS_TEST_MOTO_URL)")
    ap.add_argument("--port", type=int, default=0, help="port of the runtime emulator (default: a free one)")
    ap.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR") or str(ROOT / "target"))
    ap.add_argument("--aos", help="the aos binary (default <target>/debug/aos)")
    ap.add_argument("--cargo-lambda", default="cargo-lambda", help="the cargo-lambda executable")
    ap.add_argument("--setup-only", action="store_true", help="create env.json's resources in moto and print an admin key")
    args = ap.parse_args()
    if not args.moto:
        raise SystemExit("no moto server: pass --moto URL or set AOS_TEST_MOTO_URL (tests/run.sh does)")
    debug = Path(args.target_dir) / "debug"
    aos = args.aos or str(debug / "aos")

    if args.setup_only:
        env = local_env(args.moto.rstrip("/"), FILE_PREFIX)
        setup(args.moto.rstrip("/"), env)
        print(bootstrap_key(aos, args.moto.rstrip("/"), env))
        return 0

    t0 = time.time()
    endpoint = args.moto.rstrip("/")
    prefix = f"aos-ll-{uuid.uuid4().hex[:8]}"
    env = local_env(endpoint, prefix)
    sqs, urls = setup(endpoint, env)
    key = bootstrap_key(aos, endpoint, env)
    missing = [f for f in FUNCTIONS if not (debug / f).exists()]
    if missing:
        raise Failed(f"no debug binaries of {missing} in {debug}: build them first (tests/e2e/lambda_local.sh does)")

    tmp = Path(tempfile.mkdtemp(prefix="aos-lambda-local-"))
    procs = Procs(tmp)
    port = args.port or free_port()
    ok = False
    try:
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AOS_", "_X_AMZN"))}
        watch = procs.start("watch", [args.cargo_lambda, "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(port)], base_env)
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if watch.poll() is not None or time.time() > deadline:
                    raise Failed(f"cargo lambda watch did not start: {procs.log('watch')}")
                time.sleep(0.1)
        for f in FUNCTIONS:
            fenv = {
                **base_env,
                **AWS,
                **env,
                "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{port}/.rt/{f}",
                "AWS_LAMBDA_FUNCTION_NAME": f,
                "AWS_LAMBDA_FUNCTION_VERSION": "1",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                "AWS_LAMBDA_LOG_FORMAT": "JSON",
            }
            procs.start(f, [str(debug / f)], fenv)
        log(f"cargo lambda watch on 127.0.0.1:{port}, {len(FUNCTIONS)} functions polling it, moto {endpoint} (prefix {prefix})")

        def invoke(function, payload):
            path = tmp / f"event-{function}-{time.time_ns()}.json"
            path.write_text(json.dumps(payload))
            started = time.time()
            proc = subprocess.run(
                [args.cargo_lambda, "lambda", "invoke", function, "-A", "127.0.0.1", "-P", str(port), "--data-file", str(path), "-o", "json"],
                cwd=ROOT, env=base_env, capture_output=True, text=True, timeout=120,
            )
            if proc.returncode != 0:
                raise Failed(f"cargo lambda invoke {function} failed: {proc.stderr.strip()}\n--- {function} log ---\n{procs.log(function)}")
            log(f"invoked {function} in {time.time() - started:.2f} s")
            return json.loads(proc.stdout)

        def sample(name, run_id=None):
            text = (EVENTS / name).read_text().replace(SAMPLE_KEY, key)
            if run_id:
                text = text.replace(SAMPLE_RUN, run_id)
            return json.loads(text)

        def sqs_event(name, queue, want_kind):
            """The sample SQS event of `name` with its first record replaced by the message waiting
            on `queue` (received as the event source mapping would; deleted once handled)."""
            url = urls[queue]
            deadline = time.time() + 10
            while True:
                got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60, AttributeNames=["All"]).get("Messages", [])
                if got:
                    break
                if time.time() > deadline:
                    raise Failed(f"no message on {queue} for the {want_kind}")
                time.sleep(0.2)
            m = got[0]
            event = sample(name)
            record = dict(event["Records"][0])
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            record.update(messageId=m["MessageId"], receiptHandle=m["ReceiptHandle"], body=m["Body"], md5OfBody=m["MD5OfBody"], eventSourceARN=arn)
            record["attributes"] = {**record.get("attributes", {}), "ApproximateReceiveCount": m["Attributes"].get("ApproximateReceiveCount", "1")}
            event["Records"] = [record]
            return event, (url, m["ReceiptHandle"]), json.loads(m["Body"])

        def consume(function, event, receipt):
            resp = invoke(function, event)
            if resp.get("batchItemFailures") != []:
                raise Failed(f"{function} reported failures: {resp}")
            sqs.delete_message(QueueUrl=receipt[0], ReceiptHandle=receipt[1])

        def submission(timeout_ms=None):
            """The sample submission; with `timeout_ms`, its step allowed that long (over 5 s, a
            pure step goes through its queue instead of running inline in the orchestrator)."""
            event = sample("api-runs-submit.json")
            if timeout_ms:
                body = json.loads(event["body"])
                body["plan"]["steps"][0]["timeout_ms"] = timeout_ms
                event["body"] = json.dumps(body)
                event["headers"]["content-length"] = str(len(event["body"].encode()))
            return event

        # 1. Submission through api-runs (its step allowed 10 s: it goes through its queue).
        resp = invoke("api-runs", submission(10_000))
        body = json.loads(resp.get("body") or "{}")
        if resp.get("statusCode") != 202 or not body.get("run_id"):
            raise Failed(f"api-runs submit answered {resp}")
        run_id = body["run_id"]
        log(f"api-runs: 202, run {run_id}")

        # 2-4. The orchestrator, the skill, the orchestrator again.
        event, receipt, msg = sqs_event("orchestrator-sqs.json", "orchestrator", "first Advance")
        if msg.get("run_id") != run_id:
            raise Failed(f"the Advance names run {msg.get('run_id')}, expected {run_id}")
        consume("orchestrator", event, receipt)
        event, receipt, msg = sqs_event("skill-json-transform-sqs.json", "skill.json_transform", "step task")
        if (msg.get("run_id"), msg.get("step_id")) != (run_id, "total"):
            raise Failed(f"the step task is {msg}")
        consume("skill-json-transform", event, receipt)
        event, receipt, _ = sqs_event("orchestrator-sqs.json", "orchestrator", "second Advance")
        consume("orchestrator", event, receipt)

        # 5. The run read back through api-runs.
        resp = invoke("api-runs", sample("api-runs-get.json", run_id))
        run = json.loads(resp.get("body") or "{}")
        if resp.get("statusCode") != 200 or run.get("status") != "succeeded":
            raise Failed(f"api-runs get answered {resp}")
        if 19 not in totals(run):
            raise Failed(f"the run's output lacks total 19 (2 x 9.5): {run}")
        log(f"api-runs: 200, run {run_id} succeeded")

        # 5b. The sample as it is: its pure step runs inline in the orchestrator's advance, which
        # finishes the run; nothing goes to the skill's queue.
        resp = invoke("api-runs", submission())
        inline_id = json.loads(resp.get("body") or "{}").get("run_id")
        if resp.get("statusCode") != 202 or not inline_id:
            raise Failed(f"api-runs submit answered {resp}")
        event, receipt, msg = sqs_event("orchestrator-sqs.json", "orchestrator", "Advance of the inline run")
        if msg.get("run_id") != inline_id:
            raise Failed(f"the Advance names run {msg.get('run_id')}, expected {inline_id}")
        consume("orchestrator", event, receipt)
        resp = invoke("api-runs", sample("api-runs-get.json", inline_id))
        run = json.loads(resp.get("body") or "{}")
        if resp.get("statusCode") != 200 or run.get("status") != "succeeded" or 19 not in totals(run):
            raise Failed(f"the inline run after one advance: {resp}")
        left = sqs.receive_message(QueueUrl=urls["skill.json_transform"], MaxNumberOfMessages=1, WaitTimeSeconds=0).get("Messages", [])
        if left:
            raise Failed(f"a step task was queued for the inline run: {left[0].get('Body')}")
        log(f"orchestrator: run {inline_id} finished in one advance, its step run inline")

        # 6. The nightly aggregation.
        # The run failed nowhere, so there is nothing to group; the pass itself is what is checked:
        # its summary over the default 7 days, and the success gauge it flushed to the table's
        # metric totals (what GET /metrics serves and AosFailureAggregationStale watches).
        before = time.time()
        summary = invoke("aggregator", sample("aggregator-schedule.json"))
        window = summary.get("window", {}) if isinstance(summary, dict) else {}
        if window.get("days") != 7 or not isinstance(summary.get("scanned"), int) or "candidates" not in summary:
            raise Failed(f"aggregator answered {summary}")
        ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=AWS["AWS_REGION"], aws_access_key_id="test", aws_secret_access_key="test")
        items = ddb.query(TableName=env["AOS_TABLE"], KeyConditionExpression="pk = :pk", ConsistentRead=True,
                          ExpressionAttributeValues={":pk": {"S": "metrics#failure_aggregation_last_success_timestamp_seconds"}})["Items"]
        gauge = [float(v["N"]) for item in items for v in item.values() if isinstance(v, dict) and "N" in v]
        if not any(before - 5 <= g <= time.time() + 5 for g in gauge):
            raise Failed(f"the aggregation's success gauge is not in the table's metric totals: {items}")
        log(f"aggregator: a 7-day pass ({summary['scanned']} failure records scanned), its success gauge in the metric totals")

        log(f"passed: 9 invocations of 4 functions in {time.time() - t0:.1f} s")
        ok = True
        return 0
    except (Failed, subprocess.TimeoutExpired) as e:
        print(f"lambda_local FAILED: {e}", file=sys.stderr)
        for name, _ in procs.procs:
            print(f"--- {name} log (tail) ---\n{procs.log(name)}", file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
        if ok:
            for p in tmp.iterdir():
                p.unlink()
            tmp.rmdir()
        else:
            print(f"(kept {tmp})", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
