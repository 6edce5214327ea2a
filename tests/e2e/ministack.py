#!/usr/bin/env python3
"""End-to-end test of the serverless deployment in the ministack emulator.

Deploys template.yaml the way `sam deploy` would — the SAM transform done offline with
aws-sam-translator, the functions' `bootstrap` binaries zipped and uploaded, CloudFormation
`create_stack` — then runs examples/btc-price.json through the deployed HTTP API against a local
stand-in for the outside world, and checks the run's records in DynamoDB. The pieces the emulator
cannot create from the template are created through its API (docs/deploy.md, "Emulator gaps").

Run it through tests/e2e/ministack.sh, which installs the pinned tools, starts the emulator and
stops it again. Needs: boto3 and aws-sam-translator (the `ministack` test venv), `cargo lambda`
and zig on PATH unless --no-build.
"""

import argparse
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import boto3
from botocore.config import Config
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra"))
import bootstrap_admin_key as bootstrap  # noqa: E402 - the operator's script, tested here

STACK = "aos-e2e"
TENANT = "e2e"
CODE_BUCKET = "aos-e2e-code"
EXPECTED_MESSAGE = "BTC = 43210.5 USD (2314 sats per dollar)"


class Failure(Exception):
    """A check failed; the message says which and what was seen."""


def log(msg):
    print(f"[e2e] {msg}", flush=True)


# ---------------------------------------------------------------- template and code


def load_template():
    return yaml_parse((ROOT / "template.yaml").read_text())


def function_binaries(template):
    """Logical id -> cargo binary name, from each function's Metadata.BuildProperties.Binary."""
    out = {}
    for name, res in template["Resources"].items():
        if res["Type"] == "AWS::Serverless::Function":
            out[name] = res["Metadata"]["BuildProperties"]["Binary"]
    return out


def cargo_target_dir():
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return Path(json.loads(meta.stdout)["target_directory"])


def build(binaries):
    """Cross-builds every function for x86-64 Lambda (glibc <= 2.30) with cargo-lambda and zig."""
    cmd = ["cargo", "lambda", "build", "--release", "--x86-64", "--locked"]
    for b in sorted(set(binaries.values())):
        cmd += ["--bin", b]
    log("building: " + " ".join(cmd))
    started = time.time()
    subprocess.run(cmd, cwd=ROOT, check=True)
    log(f"built in {time.time() - started:.0f} s")


def zip_bootstrap(path):
    """A deployment package as Lambda wants it: one executable file named `bootstrap`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def transformed_template(template, allow_hosts):
    """The SAM template as CloudFormation sees it after `sam package`, changed for the emulator
    only: x86-64 instead of arm64 (CI builds x86-64; ministack runs binaries natively), code in
    the emulator's S3, the logging variables Lambda derives from LoggingConfig, and http_call
    allowed to reach the local stand-in on 127.0.0.1."""
    glob = template["Globals"]["Function"]
    glob["Architectures"] = ["x86_64"]
    # Lambda turns LoggingConfig into these variables; the emulator does not, so set them here.
    logging = glob.get("LoggingConfig", {})
    glob["Environment"]["Variables"]["AWS_LAMBDA_LOG_FORMAT"] = logging.get("LogFormat", "Text")
    glob["Environment"]["Variables"]["AWS_LAMBDA_LOG_LEVEL"] = logging.get("ApplicationLogLevel", "INFO")
    for name, res in template["Resources"].items():
        if res["Type"] == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = f"s3://{CODE_BUCKET}/{name}.zip"
    http_call = template["Resources"]["HttpCallFunction"]["Properties"]
    http_call.setdefault("Environment", {}).setdefault("Variables", {})["AOS_HTTP_ALLOW_HOSTS"] = allow_hosts

    class NoManagedPolicies:  # the template names no managed policy; SAM adds ARNs it knows itself
        def load(self):
            return {}

    return transform(template, {}, NoManagedPolicies())


# ---------------------------------------------------------------- the emulator


class Emulator:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        cfg = Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=120)
        session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
        self.client = lambda svc: session.client(svc, endpoint_url=endpoint, config=cfg)
        self.cfn = self.client("cloudformation")

    def deploy(self, template, zips):
        s3 = self.client("s3")
        s3.create_bucket(Bucket=CODE_BUCKET)
        for name, data in zips.items():
            s3.put_object(Bucket=CODE_BUCKET, Key=f"{name}.zip", Body=data)
        body = json.dumps(template, separators=(",", ":"))
        log(f"create_stack {STACK} ({len(template['Resources'])} resources, {len(body)} bytes)")
        self.cfn.create_stack(
            StackName=STACK,
            TemplateBody=body,
            Parameters=[{"ParameterKey": "BootstrapTenant", "ParameterValue": TENANT}],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        deadline = time.time() + 300
        while time.time() < deadline:
            stack = self.cfn.describe_stacks(StackName=STACK)["Stacks"][0]
            status = stack["StackStatus"]
            if status == "CREATE_COMPLETE":
                return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
            if not status.endswith("IN_PROGRESS"):
                events = self.cfn.describe_stack_events(StackName=STACK)["StackEvents"]
                failed = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}" for e in events if "FAILED" in e["ResourceStatus"]]
                raise Failure(f"stack {status}: " + "; ".join(failed))
            time.sleep(0.5)
        raise Failure("stack creation did not finish within 300 s")

    def physical_ids(self):
        res = self.cfn.describe_stack_resources(StackName=STACK)["StackResources"]
        return {r["LogicalResourceId"]: r.get("PhysicalResourceId") for r in res}

    def ensure_http_api_routes(self, template, ids):
        """ministack creates an HTTP API defined by an OpenAPI body without its routes: create each
        route and its Lambda proxy integration (payload 2.0) through the API Gateway v2 API."""
        apigw = self.client("apigatewayv2")
        lam = self.client("lambda")
        api_id = ids["HttpApi"]
        routes = apigw.get_routes(ApiId=api_id)["Items"]
        if routes:
            log(f"the emulator created {len(routes)} routes from the template")
            return api_id
        integrations = {}
        paths = template["Resources"]["HttpApi"]["Properties"]["Body"]["paths"]
        for path, methods in paths.items():
            for method, op in methods.items():
                uri = op["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
                logical = uri.split("${")[-1].split(".Arn}")[0]
                if logical not in integrations:
                    arn = lam.get_function(FunctionName=ids[logical])["Configuration"]["FunctionArn"]
                    integrations[logical] = apigw.create_integration(
                        ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn, IntegrationMethod="POST", PayloadFormatVersion="2.0"
                    )["IntegrationId"]
                verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                key = "$default" if path == "$default" else f"{verb} {path}"
                apigw.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{integrations[logical]}")
        if not any(s["StageName"] == "$default" for s in apigw.get_stages(ApiId=api_id)["Items"]):
            apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
        log(f"created {sum(len(m) for m in paths.values())} routes through the API Gateway v2 API (emulator gap)")
        return api_id

    def bootstrap_admin_key(self, secret_arn, table):
        """Registers the deploy-time admin key from its secret, as an operator does after
        `sam deploy` (infra/bootstrap_admin_key.py; a second registration must be a no-op)."""
        sm, ddb = self.client("secretsmanager"), self.client("dynamodb")
        key, tenant, new = bootstrap.register(sm, ddb, secret_arn, table)
        again = bootstrap.register(sm, ddb, secret_arn, table)
        if not new or again != (key, tenant, False):
            raise Failure("registering the bootstrap key twice did not register it once")
        # The command an operator runs prints the same key.
        env = dict(os.environ, AWS_ENDPOINT_URL=self.endpoint, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
        out = subprocess.run([sys.executable, str(ROOT / "infra" / "bootstrap_admin_key.py"), "--stack", STACK], env=env, capture_output=True, text=True)
        if out.returncode != 0 or out.stdout.strip() != key:
            raise Failure(f"infra/bootstrap_admin_key.py --stack {STACK} failed or printed another key: {out.stderr[-2000:]}")
        return key, tenant

    def dump_diagnostics(self):
        """Function logs (each function's log group), dead-lettered messages and the stack's events."""
        print("\n==== diagnostics ====", flush=True)
        try:
            logs = self.client("logs")
            lam = self.client("lambda")
            for fn in lam.list_functions()["Functions"]:
                group = (fn.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{fn['FunctionName']}"
                try:
                    events = logs.filter_log_events(logGroupName=group, limit=10000)["events"]
                except Exception as e:  # noqa: BLE001 - diagnostics must not hide the failure
                    print(f"-- {group}: no logs ({e})")
                    continue
                print(f"-- {fn['FunctionName']} ({group}), last {min(len(events), 60)} of {len(events)} lines")
                for e in events[-60:]:
                    print("   " + e["message"].rstrip()[:800])
        except Exception as e:  # noqa: BLE001
            print(f"could not read function logs: {e}")
        try:
            sqs = self.client("sqs")
            for url in sqs.list_queues().get("QueueUrls", []):
                attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
                print(f"-- queue {url.rsplit('/', 1)[-1]}: {attrs}")
                if "DeadLetter" in url and int(attrs.get("ApproximateNumberOfMessages", 0)):
                    for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", []):
                        print("   dead letter: " + m["Body"][:800])
        except Exception as e:  # noqa: BLE001
            print(f"could not read queues: {e}")
        try:
            for e in self.cfn.describe_stack_events(StackName=STACK)["StackEvents"][:20]:
                print(f"-- stack event {e['LogicalResourceId']} {e['ResourceStatus']} {e.get('ResourceStatusReason') or ''}")
        except Exception as e:  # noqa: BLE001
            print(f"could not read stack events: {e}")


def item_size(item):
    """An item's size as DynamoDB bills it (close enough for estimates): attribute names plus values."""

    def value(v):
        (kind, x), = v.items()
        if kind == "S":
            return len(x.encode())
        if kind == "N":
            digits = len(x.lstrip("-").replace(".", "").strip("0")) or 1
            return (digits + 1) // 2 + 1
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "M":
            return 3 + sum(len(k.encode()) + value(e) + 1 for k, e in x.items())
        if kind == "L":
            return 3 + sum(value(e) + 1 for e in x)
        return len(str(x))

    return sum(len(k.encode()) + value(v) for k, v in item.items())


def from_dynamo(attr):
    (kind, v), = attr.items()
    if kind == "M":
        return {k: from_dynamo(x) for k, x in v.items()}
    if kind == "L":
        return [from_dynamo(x) for x in v]
    if kind == "N":
        return float(v) if any(c in v for c in ".eE") else int(v)
    if kind == "NULL":
        return None
    return v


# ---------------------------------------------------------------- the outside world


class Target:
    """A local stand-in for the price API and a status endpoint that fails once with 503."""

    def __init__(self):
        calls = self.calls = {"/price": 0, "/status": 0}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                calls[self.path] = calls.get(self.path, 0) + 1
                if self.path == "/price":
                    self.reply(200, {"bitcoin": {"usd": 43210.5}})
                elif self.path == "/status":
                    if calls["/status"] == 1:
                        self.reply(503, {"error": "try later"})
                    else:
                        self.reply(200, {"status": {"indicator": "none", "description": "All Systems Operational"}})
                else:
                    self.reply(404, {"error": "no such path"})

            def reply(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


# ---------------------------------------------------------------- the API


class Api:
    """The deployed HTTP API, reached through the emulator's path-based execute-api address."""

    def __init__(self, endpoint, api_id, key):
        self.base = f"{endpoint}/_aws/execute-api/{api_id}/$default"
        self.key = key

    def call(self, method, path, body=None, auth=True):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("accept", "application/json")
        if data is not None:
            req.add_header("content-type", "application/json")
        if auth:
            req.add_header("authorization", f"Bearer {self.key}")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")


def expect(cond, what, seen=None):
    if not cond:
        raise Failure(what + (f"; got {json.dumps(seen)[:2000]}" if seen is not None else ""))
    log("ok: " + what)


def active_shard(run_id):
    """keys::active_shard: a 31-based byte hash of the run id, modulo 8 shards."""
    h = 0
    for b in run_id.encode():
        h = (h * 31 + b) & 0xFFFFFFFF
    return h % 8


def scenario(emu, outputs, ids, api_id, key, tenant, target):
    api = Api(emu.endpoint, api_id, key)

    status, body = api.call("GET", "/healthz", auth=False)
    expect(status == 200 and body == {"status": "ok"}, "GET /healthz answers 200 through the gateway", [status, body])
    status, body = api.call("GET", "/api/v1/openapi.json", auth=False)
    expect(status == 200 and "/api/v1/runs" in body.get("paths", {}), "the OpenAPI document is served", status)
    status, body = api.call("GET", "/api/v1/runs", auth=False)
    expect(status == 401, "an unauthenticated request is refused with 401", [status, body])
    status, body = api.call("GET", "/api/v1/skills")
    expect(status == 200 and {s["id"] for s in body["skills"]} >= {"http_call", "json_transform"}, "the bootstrap admin key lists the skills", [status, body])

    plan = json.loads((ROOT / "examples" / "btc-price.json").read_text())
    inputs = {"price_url": f"{target.base}/price", "status_url": f"{target.base}/status"}
    status, body = api.call("POST", "/api/v1/runs", {"plan": plan, "inputs": inputs})
    expect(status == 202 and body.get("run_id"), "POST /api/v1/runs accepts the 5-step plan with 202", [status, body])
    run_id = body["run_id"]
    log(f"run {run_id} submitted; polling")

    deadline, run = time.time() + 180, None
    while time.time() < deadline:
        status, run = api.call("GET", f"/api/v1/runs/{run_id}")
        if status != 200:
            raise Failure(f"GET /api/v1/runs/{run_id} answered {status}: {run}")
        if run["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(1)
    steps = {s["step_id"]: s for s in run.get("step_details", [])}
    expect(run["status"] == "succeeded", "the run succeeded", {"status": run["status"], "steps": {k: v.get("status") for k, v in steps.items()}, "error": run.get("error")})
    expect(steps["message"]["output"] == EXPECTED_MESSAGE, "the last step's output is the expected message", steps["message"].get("output"))
    expect(len(steps["status"]["attempts"]) == 2, "the flaky status step was retried once (2 attempts)", steps["status"]["attempts"])
    expect(target.calls["/status"] == 2 and target.calls["/price"] == 1, "the local endpoints were called 1 (price) and 2 (status) times", target.calls)

    # The records behind the API, read directly from the table.
    ddb = emu.client("dynamodb")
    table = outputs["TableName"]
    pk = f"t#{tenant}#run#{run_id}"
    items = ddb.query(TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pk}}, ConsistentRead=True)["Items"]
    by_sk = {i["sk"]["S"]: i for i in items}
    expect("run" in by_sk, f"the run item {pk}/run is in DynamoDB", sorted(by_sk))
    run_item = by_sk["run"]
    expect(from_dynamo(run_item["data"]).get("status") == "succeeded", "the stored run says succeeded", from_dynamo(run_item["data"]).get("status"))
    expect(run_item.get("gsi1pk", {}).get("S") == f"t#{tenant}#runs", "the run item is indexed for listing (gsi1pk)", run_item.get("gsi1pk"))
    attempts = sorted(sk for sk in by_sk if sk.startswith("att#"))
    want = ["att#combine#0001", "att#extract#0001", "att#message#0001", "att#price#0001", "att#status#0001", "att#status#0002"]
    expect(attempts == want, "one attempt item per attempt (6) is in DynamoDB", attempts)
    for sk in attempts:
        data = from_dynamo(by_sk[sk]["data"])
        if data.get("state") != "done":
            raise Failure(f"attempt {sk} is not done: {data}")
    log("ok: every attempt item is done with its record")
    sizes = {sk: item_size(i) for sk, i in by_sk.items()}
    log("item sizes (bytes, for docs/deploy.md's cost estimate): " + ", ".join(f"{k} {v}" for k, v in sorted(sizes.items())))
    marker = ddb.get_item(TableName=table, Key={"pk": {"S": f"active#{active_shard(run_id)}"}, "sk": {"S": run_id}}, ConsistentRead=True)
    expect("Item" not in marker, "the run's active marker was deleted when it finished", marker.get("Item"))

    status, body = api.call("GET", "/api/v1/runs?limit=5")
    expect(status == 200 and any(r["run_id"] == run_id for r in body["runs"]), "GET /api/v1/runs lists the run (index gsi1)", [status, body])
    status, body = api.call("POST", f"/api/v1/runs/{run_id}/replay")
    expect(status == 200 and body.get("parity") is True, "replay of the run shows parity", [status, body])
    # Failures as data: the status step's 503 was recorded with its catalog match and its recovery.
    status, body = api.call("GET", "/api/v1/failures?kind=attempt")
    mine = [f for f in (body or {}).get("failures", []) if f.get("run_id") == run_id] if status == 200 else []
    expect(
        len(mine) == 1 and mine[0].get("step_id") == "status" and mine[0].get("code") == "HTTP_503" and mine[0].get("recovery_succeeded") is True,
        "GET /api/v1/failures lists the status step's recovered 503",
        [status, body],
    )
    status, body = api.call("GET", "/api/v1/catalog")
    expect(status == 200 and body.get("entries"), "GET /api/v1/catalog serves the failure catalog", status)

    status, body = api.call("PUT", "/api/v1/secrets/e2e_token", {"value": "s3cr3t-value"})
    expect(status == 204, "PUT /api/v1/secrets/e2e_token stores a secret (Secrets Manager)", [status, body])
    status, body = api.call("GET", "/api/v1/secrets")
    expect(status == 200 and "e2e_token" in body.get("names", []), "GET /api/v1/secrets lists its name", [status, body])
    status, body = api.call("GET", "/api/v1/runs/does-not-exist/nothing")
    expect(status == 404 and isinstance(body, dict) and body.get("error", {}).get("code") == "NOT_FOUND", "an unknown route answers AOS's JSON 404 ($default route)", [status, body])

    # The sweeper, as its schedule invokes it (the test is over before the first scheduled sweep).
    event = {"id": "e2e-sweep", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
    out = emu.client("lambda").invoke(FunctionName=ids["SweeperFunction"], Payload=json.dumps(event).encode())
    report = json.loads(out["Payload"].read() or b"null")
    expect("FunctionError" not in out and report == {"active_runs": 0}, "a sweep finds no unfinished run", [out.get("FunctionError"), report])

    # Metrics: every function added its invocations' deltas to the DynamoDB counters, which the
    # api-metrics function serves as Prometheus text; the functions printed them as EMF lines too.
    status, text = api.call("GET", "/metrics")
    samples = {}
    if status == 200 and isinstance(text, str):
        for line in text.splitlines():
            if line and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                samples[series] = float(value)
    want = {
        'runs_total{status="succeeded"}': 1,
        'failure_match_hits_total{category="TRANSIENT",code="HTTP_SERVICE_UNAVAILABLE"}': 1,
        'recovery_attempts_total{code="HTTP_SERVICE_UNAVAILABLE",mode="retry_exponential"}': 1,
        'recovery_success_total{code="HTTP_SERVICE_UNAVAILABLE",mode="retry_exponential"}': 1,
        'step_duration_seconds_count{skill="http_call"}': 3,
        'step_duration_seconds_count{skill="json_transform"}': 3,
        'step_duration_seconds_bucket{skill="json_transform",le="+Inf"}': 3,
    }
    got = {k: samples.get(k) for k in want}
    expect(got == want, "GET /metrics (api-metrics) serves the run's counters from DynamoDB", [status, got, text])
    status, body = api.call("GET", "/metrics", auth=False)
    expect(status == 401, "GET /metrics without a key is refused with 401", [status, body])
    logs = emu.client("logs")
    config = emu.client("lambda").get_function(FunctionName=ids["JsonTransformFunction"])["Configuration"]
    group = (config.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{config['FunctionName']}"
    emf = []
    for e in logs.filter_log_events(logGroupName=group, limit=10000)["events"]:
        try:
            doc = json.loads(e["message"])
        except ValueError:
            continue
        if isinstance(doc, dict) and "_aws" in doc:
            emf.append(doc)
    counts = sum(d["step_duration_seconds"]["Count"] for d in emf if d.get("skill") == "json_transform" and "step_duration_seconds" in d)
    namespaces = {m["Namespace"] for d in emf for m in d["_aws"]["CloudWatchMetrics"]}
    expect(counts == 3 and namespaces == {"AOS"}, "skill-json-transform printed EMF lines (namespace AOS) for its 3 attempts", [counts, namespaces, emf[:3]])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4567"))
    ap.add_argument("--no-build", action="store_true", help="use the binaries already in <target>/lambda")
    args = ap.parse_args()
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

    template = load_template()
    binaries = function_binaries(template)
    if not args.no_build:
        build(binaries)
    lambda_dir = cargo_target_dir() / "lambda"
    zips = {}
    for name, binary in binaries.items():
        path = lambda_dir / binary / "bootstrap"
        if not path.is_file():
            raise Failure(f"{path} is missing: build with `cargo lambda build --release --x86-64`")
        zips[name] = zip_bootstrap(path)

    emu = Emulator(args.endpoint)
    target = Target()
    try:
        cf_template = transformed_template(template, allow_hosts="127.0.0.1")
        started = time.time()
        outputs = emu.deploy(cf_template, zips)
        log(f"stack created in {time.time() - started:.1f} s")
        ids = emu.physical_ids()
        api_id = emu.ensure_http_api_routes(cf_template, ids)
        key, tenant = emu.bootstrap_admin_key(outputs["BootstrapAdminKeySecretArn"], outputs["TableName"])
        log(f"admin key for tenant {tenant} registered from the BootstrapAdminKey secret")
        scenario(emu, outputs, ids, api_id, key, tenant, target)
    except Exception as e:
        log(f"FAILED: {type(e).__name__}: {e}")
        emu.dump_diagnostics()
        return 1
    finally:
        target.stop()
    print("ministack: 1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
