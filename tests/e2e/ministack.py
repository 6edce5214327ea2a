#!/usr/bin/env python3
"""End-to-end test of the serverless deployment in the ministack emulator.

Deploys template.yaml the way `sam deploy` would — the SAM transform done offline with
aws-sam-translator, the functions' `bootstrap` binaries zipped and uploaded, CloudFormation
`create_stack` — creates the first admin key with `aos keys bootstrap --aws`, then runs
examples/btc-price.json through the deployed HTTP API against a local stand-in for the outside
world, and checks the run's records in DynamoDB. Then the skills that act on the world, each its
own function: examples/order-webhook.json (json_transform, kv_store, fs, webhook_send, email_send)
and examples/price-alert.json (adding slack_send), against real servers of each protocol from
tests/stack/ (needs the `protocols` test venv), with the files in the stack's bucket. The pieces
the emulator cannot create from the template are created through its API (docs/deploy.md,
"Emulator gaps").

The functions' binaries come from one of:
  --build release   (default) `make lambdas LAMBDA_ARCH=--x86-64`: the lambda-release profile,
                    one package at a time, as `sam build` builds them (needs cargo-lambda and zig);
  --build none      the binaries a previous release build left in <target>/lambda/<fn>/bootstrap;
  --build debug     `cargo build -p <fn> -p ...` of the functions alone (their own features, as
                    deployed), deployed from <target>/debug/<fn> without their debug info; no
                    cargo-lambda needed.

Run it through tests/e2e/ministack.sh, which installs the pinned tools, starts the emulator and
stops it again. Needs boto3 and aws-sam-translator (the `ministack` test venv).
"""

import argparse
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import boto3
from botocore.config import Config
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]

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
    """Logical id -> cargo package (and binary) name, from the Makefile `sam build` runs
    (`build-<LogicalId>: FUNCTION = <package>`) for each function built with `BuildMethod: makefile`."""
    makefile = (ROOT / "Makefile").read_text()
    packages = dict(re.findall(r"^build-(\w+): FUNCTION = ([\w-]+)$", makefile, re.M))
    out = {}
    for name, res in template["Resources"].items():
        if res["Type"] == "AWS::Serverless::Function":
            if res.get("Metadata", {}).get("BuildMethod") != "makefile" or name not in packages:
                raise Failure(f"{name}: expected BuildMethod makefile and a `build-{name}: FUNCTION = ...` line in the Makefile")
            out[name] = packages[name]
    return out


def cargo_target_dir():
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return Path(json.loads(meta.stdout)["target_directory"])


def build_release():
    """Cross-builds every function for x86-64 Lambda (glibc <= 2.30) with cargo-lambda and zig,
    as `sam build` does for arm64: the Makefile, one package at a time, profile lambda-release."""
    cmd = ["make", "-s", "lambdas", "LAMBDA_ARCH=--x86-64"]
    log("building: " + " ".join(cmd))
    started = time.time()
    subprocess.run(cmd, cwd=ROOT, check=True)
    log(f"built in {time.time() - started:.0f} s")


def build_debug(binaries):
    """Builds the functions' packages together and apart from the rest of the workspace, so that
    their features are the functions' own, as in a deployment (the API functions without the
    `openapi` feature of aos-api, serving the committed document), in the dev profile."""
    cmd = ["cargo", "build", "--locked"] + [arg for package in sorted(set(binaries.values())) for arg in ("-p", package)]
    log("building: " + " ".join(cmd))
    started = time.time()
    subprocess.run(cmd, cwd=ROOT, check=True)
    log(f"built in {time.time() - started:.0f} s")


def bootstrap_paths(binaries, mode):
    """Logical id -> the executable to deploy as that function's `bootstrap`."""
    target = cargo_target_dir()
    paths = {}
    for name, package in binaries.items():
        path = target / "debug" / package if mode == "debug" else target / "lambda" / package / "bootstrap"
        if not path.is_file():
            hint = "cargo build -p <function>" if mode == "debug" else "make lambdas LAMBDA_ARCH=--x86-64"
            raise Failure(f"{path} is missing: build it with `{hint}`")
        paths[name] = path
    return paths


def zip_bootstrap(path, strip_debug):
    """A deployment package as Lambda wants it: one executable file named `bootstrap`. A debug
    build's binary loses its debug info first (about 340 MB -> 70 MB; the code is the same)."""
    with tempfile.TemporaryDirectory() as tmp:
        if strip_debug:
            stripped = Path(tmp) / "bootstrap"
            subprocess.run([shutil.which("strip") or "strip", "--strip-debug", "-o", str(stripped), str(path)], check=True)
            path = stripped
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o100755 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
        return buf.getvalue()


def transformed_template(template, allow_hosts, endpoint):
    """The SAM template as CloudFormation sees it after `sam package`, changed for the emulator
    only: x86-64 instead of arm64 (CI builds x86-64; ministack runs binaries natively), code in
    the emulator's S3, the logging variables Lambda derives from LoggingConfig, http_call and the
    skills that send allowed to reach the local stand-ins on 127.0.0.1, api-recovery's candidate
    thresholds lowered so that the run's one recovered 503 is enough for a recovery candidate,
    and the files bucket without its TLS-only policy (the emulator is reached over plain HTTP)."""
    glob = template["Globals"]["Function"]
    glob["Architectures"] = ["x86_64"]
    # Lambda turns LoggingConfig into these variables; the emulator does not, so set them here.
    logging = glob.get("LoggingConfig", {})
    glob["Environment"]["Variables"]["AWS_LAMBDA_LOG_FORMAT"] = logging.get("LogFormat", "Text")
    glob["Environment"]["Variables"]["AWS_LAMBDA_LOG_LEVEL"] = logging.get("ApplicationLogLevel", "INFO")
    for name, res in template["Resources"].items():
        if res["Type"] == "AWS::Serverless::Function":
            res["Properties"]["CodeUri"] = f"s3://{CODE_BUCKET}/{name}.zip"
    # The skills that call out reach the local stand-ins on 127.0.0.1 (the address guard's allow list).
    for name in ("HttpCallFunction", "WebhookSendFunction", "EmailSendFunction", "SlackSendFunction"):
        props = template["Resources"][name]["Properties"]
        props.setdefault("Environment", {}).setdefault("Variables", {})["AOS_HTTP_ALLOW_HOSTS"] = allow_hosts
    # The functions reach the emulator over plain HTTP, which the files bucket's TLS-only policy (a
    # Deny on aws:SecureTransport false, which the emulator enforces as AWS does) refuses: the
    # emulator's bucket goes without it. The fs function's role still limits it to t/*.
    template["Resources"].pop("FilesBucketPolicy")
    # One observation (the defaults want 3) with a lower bound of 0.55 (the default wants 0.6).
    recovery = template["Resources"]["ApiRecoveryFunction"]["Properties"].setdefault("Environment", {}).setdefault("Variables", {})
    recovery.update({"AOS_RECOVERY_MIN_EVIDENCE": "1", "AOS_RECOVERY_CANDIDATE_LOWER": "0.5"})
    # The emulator's tokens carry AWS's issuer but its keys are served locally (as in AWS, at
    # <endpoint>/<pool id>/.well-known/jwks.json).
    glob["Environment"]["Variables"]["AOS_OIDC_JWKS_URL"] = {"Fn::Sub": endpoint + "/${UserPool}/.well-known/jwks.json"}

    # What the emulator has no provisioner for goes (docs/slo.md): the SLO alarms' composite and
    # metric-math alarms and the saved Logs Insights queries. The single-metric alarms, the
    # latency metric filter and the dashboard are deployed.
    unsupported = ("AWS::CloudWatch::CompositeAlarm", "AWS::Logs::QueryDefinition")
    for name in [n for n, r in template["Resources"].items()
                 if r["Type"] in unsupported or (r["Type"] == "AWS::CloudWatch::Alarm" and "Metrics" in r.get("Properties", {}))]:
        template["Resources"].pop(name)

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

    def upload(self, paths, strip_debug):
        """Zips each function's binary and uploads it, one at a time (a debug binary is big)."""
        s3 = self.client("s3")
        s3.create_bucket(Bucket=CODE_BUCKET)
        total = 0
        for name, path in paths.items():
            data = zip_bootstrap(path, strip_debug)
            total += len(data)
            s3.put_object(Bucket=CODE_BUCKET, Key=f"{name}.zip", Body=data)
        log(f"uploaded {len(paths)} deployment packages ({total / 1e6:.0f} MB zipped)")

    def deploy(self, template):
        body = json.dumps(template, separators=(",", ":"))
        # Past CloudFormation's 51,200-byte TemplateBody limit, as `sam deploy` does: the template
        # goes to S3 and the stack is created from its URL.
        self.client("s3").put_object(Bucket=CODE_BUCKET, Key="template.json", Body=body.encode())
        url = f"{self.endpoint}/{CODE_BUCKET}/template.json"
        log(f"create_stack {STACK} ({len(template['Resources'])} resources, {len(body)} bytes, TemplateURL {url})")
        self.cfn.create_stack(
            StackName=STACK,
            TemplateURL=url,
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

    def ensure_authorizers(self, template, ids, api_id):
        """The HTTP API's Lambda authorizer (securitySchemes of the OpenAPI body SAM generates) and
        each route's use of it (the operation's `security`; `NONE` for public routes), created
        through the API Gateway v2 API where the emulator did not create them from the body."""
        apigw = self.client("apigatewayv2")
        lam = self.client("lambda")
        body = template["Resources"]["HttpApi"]["Properties"]["Body"]
        existing = {a["Name"]: a["AuthorizerId"] for a in apigw.get_authorizers(ApiId=api_id)["Items"]}
        authorizers = {}
        for name, scheme in body.get("components", {}).get("securitySchemes", {}).items():
            spec = scheme.get("x-amazon-apigateway-authorizer") or {}
            if spec.get("type") != "request":
                continue
            if name in existing:
                authorizers[name] = existing[name]
                continue
            logical = spec["authorizerUri"]["Fn::Sub"][1]["__FunctionArn__"]["Fn::GetAtt"][0]
            arn = lam.get_function(FunctionName=ids[logical])["Configuration"]["FunctionArn"]
            authorizers[name] = apigw.create_authorizer(
                ApiId=api_id,
                Name=name,
                AuthorizerType="REQUEST",
                AuthorizerUri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations",
                IdentitySource=spec["identitySource"],
                AuthorizerPayloadFormatVersion=spec["authorizerPayloadFormatVersion"],
                EnableSimpleResponses=spec.get("enableSimpleResponses", False),
                AuthorizerResultTtlInSeconds=spec.get("authorizerResultTtlInSeconds", 300),
            )["AuthorizerId"]
        wanted = {}
        for path, methods in body["paths"].items():
            for method, op in methods.items():
                verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
                key = "$default" if path == "$default" else f"{verb} {path}"
                names = [n for req in op.get("security", []) for n in req if n in authorizers]
                wanted[key] = authorizers[names[0]] if names else None
        changed = 0
        for route in apigw.get_routes(ApiId=api_id)["Items"]:
            want = wanted.get(route["RouteKey"])
            if want and route.get("AuthorizerId") != want:
                apigw.update_route(ApiId=api_id, RouteId=route["RouteId"], AuthorizationType="CUSTOM", AuthorizerId=want)
                changed += 1
        public = sorted(k for k, v in wanted.items() if v is None)
        log(f"authorizers {sorted(authorizers)}: {changed} routes set to use them; without: {public}")
        if not authorizers or not changed and not existing:
            raise Failure("the template's HTTP API has no Lambda authorizer, or no route uses it")

    def bootstrap_admin_key(self, aos, table):
        """Creates the first admin key as an operator does after `sam deploy`:
        `AOS_TABLE=<TableName> aos keys bootstrap --aws --tenant <tenant>`; a second bootstrap of
        the tenant must be refused. The scenario then uses the key through the gateway."""
        env = dict(os.environ, AWS_ENDPOINT_URL=self.endpoint, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1", AOS_TABLE=table)
        cmd = [str(aos), "keys", "bootstrap", "--aws", "--tenant", TENANT]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        key = out.stdout.strip()
        if out.returncode != 0 or not key.startswith("aos_"):
            raise Failure(f"{' '.join(cmd)} failed: {out.stderr[-2000:]}")
        again = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if again.returncode == 0 or "already" not in again.stderr:
            raise Failure(f"a second `aos keys bootstrap` of tenant {TENANT} was not refused: {again.stdout} {again.stderr}")
        return key, TENANT

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
    """A local stand-in for the price API, a status endpoint that fails once with 503 and one that
    fails twice."""

    def __init__(self):
        calls = self.calls = {"/price": 0, "/status": 0, "/twice-down": 0}

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
                elif self.path == "/twice-down":
                    if calls["/twice-down"] <= 2:
                        self.reply(503, {"error": "try later"})
                    else:
                        self.reply(200, {"status": "up"})
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


SLACK_HOOK_KEY = "e2e-hook-key-4d1c"
SMTP_PASSWORD = "e2e-smtp-pw+&:/"
WEBHOOK_KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class StandIns:
    """The outside world of the skills that act on it, as real servers of each protocol
    (tests/stack/): a Slack (incoming webhooks), an SMTP server requiring a password (aiosmtpd) and
    a receiver verifying Standard Webhooks signatures with the reference library. The emulator runs
    the functions as local processes, so they reach these on 127.0.0.1."""

    def __init__(self, protocols_python):
        if not Path(protocols_python).is_file():
            raise Failure(f"{protocols_python} is missing: run `bash tests/stack/python-env.sh protocols`")
        self.procs = []
        self.tmp = Path(tempfile.mkdtemp(prefix="aos-e2e-standins-"))
        self.mail = self.tmp / "mail.jsonl"
        stack = ROOT / "tests" / "stack"
        self.slack = self._start(sys.executable, stack / "protocol_slack.py")
        self.smtp = self._start(protocols_python, stack / "protocol_smtp.py", "--out", str(self.mail), "--auth", f"mailer:{SMTP_PASSWORD}")
        self.receiver = self._start(protocols_python, stack / "protocol_receiver.py", "--webhook-secret", WEBHOOK_KEY)

    def _start(self, python, script, *args):
        proc = subprocess.Popen([str(python), str(script), *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
        self.procs.append(proc)
        line = proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise Failure(f"{script.name} did not start: {line!r}")
        return line[len("listening on "):]

    @staticmethod
    def received(base):
        with urllib.request.urlopen(f"{base}/_received", timeout=10) as resp:
            return json.loads(resp.read())

    def mails(self):
        return [json.loads(line) for line in self.mail.read_text().splitlines()] if self.mail.exists() else []

    def stop(self):
        for proc in self.procs:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------- the API


class Api:
    """The deployed HTTP API, reached through the emulator's path-based execute-api address."""

    def __init__(self, endpoint, api_id, key):
        self.endpoint, self.api_id = endpoint, api_id
        self.base = f"{endpoint}/_aws/execute-api/{api_id}/$default"
        self.key = key

    def with_key(self, key):
        """The same API called with another bearer credential."""
        return Api(self.endpoint, self.api_id, key)

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


def monitoring(emu, ids):
    """The console monitoring the emulator can hold (docs/slo.md): the dashboard, whose body names
    the stack's own resources, the single-metric SLO alarms and the latency metric filter."""
    cw = emu.client("cloudwatch")
    body = json.loads(cw.get_dashboard(DashboardName=ids["Dashboard"])["DashboardBody"])
    titles = {w["properties"].get("title") for w in body["widgets"]}
    expect({"Runs finished by status", "Catalog match rate (%)", "Dead-letter queue depth", "Lambda errors"} <= titles
           and "${" not in json.dumps(body), "the CloudWatch dashboard is created with its widgets, every reference resolved", sorted(t for t in titles if t))
    names = [ids[a] for a in ("SloAggregationStaleAlarm", "SloApiErrors1hAlarm", "SloApiSlow5mAlarm")]
    alarms = cw.describe_alarms(AlarmNames=names)["MetricAlarms"]
    expect(len(alarms) == 3, "the single-metric SLO alarms are created", [a["AlarmName"] for a in alarms])
    filters = emu.client("logs").describe_metric_filters(metricName="api_latency_ms", metricNamespace="AOS")["metricFilters"]
    expect(len(filters) == 1, "the access log's latency metric filter is created", filters)


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


def wait_run(api, run_id, timeout=180):
    deadline, run = time.time() + timeout, None
    while time.time() < deadline:
        status, run = api.call("GET", f"/api/v1/runs/{run_id}")
        if status != 200:
            raise Failure(f"GET /api/v1/runs/{run_id} answered {status}: {run}")
        if run["status"] in ("succeeded", "failed", "cancelled"):
            return run
        time.sleep(1)
    raise Failure(f"run {run_id} did not finish within {timeout} s: {run}")


def scenario(emu, outputs, ids, api_id, key, tenant, target, standins):
    api = Api(emu.endpoint, api_id, key)

    status, body = api.call("GET", "/healthz", auth=False)
    expect(status == 200 and body == {"status": "ok"}, "GET /healthz answers 200 through the gateway", [status, body])
    status, body = api.call("GET", "/api/v1/openapi.json", auth=False)
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    expect(status == 200 and body == committed, "the OpenAPI document served through the gateway is the committed docs/openapi.json", status)
    status, body = api.call("GET", "/api/v1/runs", auth=False)
    expect(status == 401, "an unauthenticated request is refused with 401", [status, body])
    status, body = api.with_key("aos_deadbeef_" + "0" * 48).call("GET", "/api/v1/runs")
    expect(status == 403, "the authorizer refuses an unknown API key (the gateway's 403)", [status, body])
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

    recovery(emu, outputs, ids, api, tenant, mine[0]["id"])

    status, body = api.call("PUT", "/api/v1/secrets/e2e_token", {"value": "s3cr3t-value"})
    expect(status == 204, "PUT /api/v1/secrets/e2e_token stores a secret (Secrets Manager)", [status, body])
    status, body = api.call("GET", "/api/v1/secrets")
    expect(status == 200 and "e2e_token" in body.get("names", []), "GET /api/v1/secrets lists its name", [status, body])
    status, body = api.call("GET", "/api/v1/runs/does-not-exist/nothing")
    expect(status == 404 and isinstance(body, dict) and body.get("error", {}).get("code") == "NOT_FOUND", "an unknown route answers AOS's JSON 404 ($default route)", [status, body])

    access_control(emu, outputs, api, tenant)

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
    stamp = samples.get("failure_aggregation_last_success_timestamp_seconds", 0)
    expect(stamp > time.time() - 600, "GET /metrics serves the aggregator's last-success gauge from DynamoDB", stamp)
    status, body = api.call("GET", "/metrics", auth=False)
    expect(status == 401, "GET /metrics without a key is refused with 401", [status, body])
    logs = emu.client("logs")
    # The example's three transforms run inline in the orchestrator's advances (pure steps: no
    # queue round trip), so their EMF lines are the orchestrator function's.
    config = emu.client("lambda").get_function(FunctionName=ids["OrchestratorFunction"])["Configuration"]
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
    expect(
        counts == 3 and namespaces == {"AOS"},
        "the orchestrator printed EMF lines (namespace AOS) for the 3 json_transform attempts it ran inline",
        [counts, sorted(namespaces), emf[:3]],
    )

    # After the metrics' exact counts: the learning loop's runs add to them.
    policies(api, target)
    skill_workflows(emu, outputs, ids, api, tenant, target, standins)


def skill_workflows(emu, outputs, ids, api, tenant, target, standins):
    """The skills that act on the world, each its own function behind its own queue, through the
    gateway: examples/order-webhook.json twice (json_transform, kv_store, fs, webhook_send,
    email_send) and examples/price-alert.json (http_call, json_transform, kv_store, fs, slack_send,
    email_send). The credentials are the tenant's secrets in Secrets Manager; the files land in the
    stack's bucket under t/<tenant>/ (through the fs function's role, which may touch only t/*), the
    counters in the table under kv_store's partition of the tenant."""
    secrets = {
        "SLACK_WEBHOOK_URL": f"{standins.slack}/services/TE2E/BE2E/{SLACK_HOOK_KEY}",
        "SMTP_URL": f"smtp://mailer:{urllib.parse.quote(SMTP_PASSWORD, safe='')}@{standins.smtp}?tls=none&from=AOS%20Alerts%20%3Calerts@aos.example%3E",
        "WEBHOOK_SECRET": WEBHOOK_KEY,
    }
    for name, value in secrets.items():
        status, body = api.call("PUT", f"/api/v1/secrets/{name}", {"value": value})
        expect(status == 204, f"PUT /api/v1/secrets/{name} stores the skill's credential", [status, body])

    def run(example, inputs):
        plan = json.loads((ROOT / "examples" / f"{example}.json").read_text())
        status, body = api.call("POST", "/api/v1/runs", {"plan": plan, "inputs": inputs})
        expect(status == 202 and body.get("run_id"), f"POST /api/v1/runs accepts examples/{example}.json", [status, body])
        run = wait_run(api, body["run_id"])
        steps = {s["step_id"]: s for s in run.get("step_details", [])}
        expect(
            run["status"] == "succeeded" and all(s["status"] == "succeeded" for s in steps.values()),
            f"examples/{example}.json succeeded, every step",
            {"status": run["status"], "steps": {k: [v.get("status"), (v.get("error") or {}).get("code"), (v.get("error") or {}).get("message")] for k, v in steps.items()}},
        )
        return run, steps

    inputs = json.loads((ROOT / "examples" / "order-webhook.inputs.json").read_text())
    inputs["webhook_url"] = f"{standins.receiver}/hook/orders"
    first, first_steps = run("order-webhook", inputs)
    inputs["order"]["id"] = "O-1002"
    inputs["order"]["items"] = [{"sku": "C-3", "qty": 3, "price": 1.5}]
    second, second_steps = run("order-webhook", inputs)
    counts = [first_steps["count"]["output"]["value"], second_steps["count"]["output"]["value"]]
    expect(counts == [1, 2], "kv_store counted the customer's orders (1, then 2)", counts)
    inputs = json.loads((ROOT / "examples" / "price-alert.inputs.json").read_text())
    inputs["price_url"] = f"{target.base}/price"
    alert, alert_steps = run("price-alert", inputs)

    hooks = standins.received(standins.receiver)
    got = [(h["path"], h["verified"], h["headers"].get("webhook-id"), json.loads(h["body"]).get("order", {}).get("id")) for h in hooks]
    want = [("/hook/orders", True, steps["fulfil"]["output"]["webhook_id"], oid) for steps, oid in ((first_steps, "O-1001"), (second_steps, "O-1002"))]
    expect(got == want, "the receiver verified both webhooks' signatures (standardwebhooks) with the ids the runs recorded", got)
    mails = standins.mails()
    got = [(m["rcpt_tos"], m["headers"].get("subject"), m["authenticated"], m["headers"].get("message-id")) for m in mails]
    want = [
        (["orders@smith.example"], "Your order O-1001", True, first_steps["receipt"]["output"]["message_id"]),
        (["orders@smith.example"], "Your order O-1002", True, second_steps["receipt"]["output"]["message_id"]),
        (["ops@example.com"], "BTC is 43210.5 USD", True, alert_steps["email"]["output"]["message_id"]),
    ]
    expect(got == want, "the SMTP server received the two receipts and the alert, authenticated with the password", got)
    html = [p["content"] for p in mails[0]["parts"] if p["content_type"] == "text/html"]
    expect(html and "Smith &amp; Sons &lt;Ltd&gt;" in html[0], "the receipt's HTML part is autoescaped", html)
    posts = [(p["path"], p["json"]) for p in standins.received(standins.slack)]
    want = [(f"/services/TE2E/BE2E/{SLACK_HOOK_KEY}", {"text": "BTC = 43210.5 USD (report: reports/btc-usd.md)"})]
    expect(posts == want, "Slack received the alert through the incoming webhook", posts)

    s3 = emu.client("s3")
    bucket = ids["FilesBucket"]
    files = {}
    for key in (f"t/{tenant}/ledger/orders.csv", f"t/{tenant}/reports/btc-usd.md"):
        try:
            files[key] = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        except Exception as e:  # noqa: BLE001 - reported as the failure
            files[key] = f"<{type(e).__name__}: {e}>"
    want = {f"t/{tenant}/ledger/orders.csv": "O-1001,44.5\nO-1002,4.5\n", f"t/{tenant}/reports/btc-usd.md": "# BTC price\n\nBTC = 43210.5 USD\n"}
    expect(files == want, f"the fs function wrote the ledger and the report to the bucket {bucket} under t/{tenant}/", files)
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
    expect(all(k.startswith(f"t/{tenant}/") for k in listed), "nothing in the files bucket outside the tenant's prefix", listed)
    ddb = emu.client("dynamodb")
    item = ddb.get_item(TableName=outputs["TableName"], Key={"pk": {"S": f"t#{tenant}#sd#kv_store#kv#orders"}, "sk": {"S": "customer-c-42"}}, ConsistentRead=True).get("Item")
    expect(item and from_dynamo(item["data"]).get("value") == 2, "the counter is in the table under kv_store's partition of the tenant", item)
    status, body = api.call("POST", f"/api/v1/runs/{first['run_id']}/replay")
    expect(status == 200 and body.get("parity") is True, "replay of an order run shows parity without sending anything again", [status, body])
    expect(len(standins.received(standins.receiver)) == 2 and len(standins.mails()) == 3, "the replay sent no webhook and no mail",
           [len(standins.received(standins.receiver)), len(standins.mails())])


def recovery(emu, outputs, ids, api, tenant, failure_id):
    """Recovery through the deployed API (api-recovery): the run's recovered 503 is evidence, a
    suggestion about it comes from that history and (with the thresholds lowered on the function)
    proposes a candidate, which is approved once, with an audit event; the aggregator's nightly
    pass runs under its own role."""
    ddb = emu.client("dynamodb")
    pk = f"t#{tenant}#evid#HTTP_SERVICE_UNAVAILABLE"
    items = ddb.query(TableName=outputs["TableName"], KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pk}}, ConsistentRead=True)["Items"]
    seen = [(i["sk"]["S"], i.get("n_attempts", {}).get("N"), i.get("n_successes", {}).get("N")) for i in items]
    expect(
        len(seen) == 1 and seen[0][0].startswith("http_call#retry.") and seen[0][1:] == ("1", "1"),
        f"the orchestrator added the recovery evidence under {pk} (n_attempts 1, n_successes 1)",
        seen,
    )

    status, body = api.call("POST", "/api/v1/recovery/suggest", {"failure_id": failure_id})
    top = (body or {}).get("suggestions", [{}])[0] if status == 200 else {}
    expect(
        status == 200 and body["match"].get("code") == "HTTP_SERVICE_UNAVAILABLE" and top.get("action") == "retry"
        and top.get("source") == "history" and top.get("evidence", {}).get("observed") == 1,
        "POST /api/v1/recovery/suggest answers a retry from history (observed 1) for the recovered 503",
        [status, body],
    )
    expect(len(body.get("candidates", [])) == 1, "the suggestion proposes a recovery candidate (AOS_RECOVERY_MIN_EVIDENCE=1)", body.get("candidates"))
    candidate = body["candidates"][0]
    status, body = api.call("GET", "/api/v1/recovery/candidates?status=pending")
    pending = [c["id"] for c in (body or {}).get("candidates", [])] if status == 200 else []
    expect(pending == [candidate], "GET /api/v1/recovery/candidates?status=pending lists it", [status, body])

    note = "e2e: retry 503s sooner"
    status, body = api.call("POST", f"/api/v1/recovery/candidates/{candidate}/approve", {"note": note})
    history = (body or {}).get("history", []) if status == 200 else []
    expect(
        status == 200 and body.get("status") == "approved" and len(history) == 1
        and (history[0].get("from"), history[0].get("to"), history[0].get("note"), history[0].get("role")) == ("pending", "approved", note, "admin"),
        "POST .../approve answers 200 approved with the decision in its history",
        [status, body],
    )
    status, body = api.call("POST", f"/api/v1/recovery/candidates/{candidate}/approve", {"note": "again"})
    expect(status == 409 and (body or {}).get("error", {}).get("code") == "CANDIDATE_STATE_CONFLICT", "a second approve answers 409 CANDIDATE_STATE_CONFLICT", [status, body])
    status, body = api.call("GET", "/api/v1/audit?action=recovery.approved")
    events = (body or {}).get("events", []) if status == 200 else []
    expect(
        len(events) == 1 and events[0].get("target") == f"recovery_candidate:{candidate}" and events[0].get("detail", {}).get("note") == note,
        "the audit log has the recovery.approved event (GET /api/v1/audit?action=recovery.approved)",
        [status, body],
    )

    # The aggregator, as its nightly schedule invokes it: under its own role it reads the failures
    # and evidence, stores the catalog candidates and re-ranks the recovery (default thresholds
    # there: one observation proposes nothing new).
    event = {"id": "e2e-aggregate", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}
    out = emu.client("lambda").invoke(FunctionName=ids["AggregatorFunction"], Payload=json.dumps(event).encode())
    summary = json.loads(out["Payload"].read() or b"null")
    expect(
        "FunctionError" not in out and isinstance(summary, dict) and summary.get("tenants", 0) >= 1 and summary.get("scanned", 0) >= 1,
        "the aggregator's nightly pass runs under its own role",
        [out.get("FunctionError"), summary],
    )


def policies(api, target):
    """The learning loop through the gateway: the candidate approved above is an active policy; a
    plan whose step failed for good with a 503 gets the policy's retry on its next run (api-runs
    compiles it in at submission, the run records the patch) and succeeds without an edit; the
    policy is disabled once."""
    status, body = api.call("GET", "/api/v1/policies")
    active = [p for p in (body or {}).get("policies", []) if p.get("status") == "active"] if status == 200 else []
    expect(
        len(active) == 1 and active[0].get("code") == "HTTP_SERVICE_UNAVAILABLE" and active[0].get("action") == "retry",
        "GET /api/v1/policies lists the approved candidate as an active retry policy",
        [status, body],
    )
    policy = active[0]["id"]

    plan = {"name": "e2e-policy", "steps": [{"id": "check", "skill": "http_call", "input": {"url": f"{target.base}/twice-down"}, "retry": {"max_attempts": 1}}]}
    status, body = api.call("POST", "/api/v1/runs", {"plan": plan})
    expect(status == 202, "POST /api/v1/runs accepts the one-step plan", [status, body])
    first = wait_run(api, body["run_id"])
    expect(first["status"] == "failed" and not first.get("applied_policies"), "its first run fails for good on the 503 (the step had not met the code: no policy)", first)

    # The same plan, opting in to overrides of its explicit retry: the policy's retry is compiled in.
    status, body = api.call("POST", "/api/v1/runs", {"plan": {**plan, "policies": "override"}})
    expect(status == 202, "the plan is submitted again with policies: override", [status, body])
    second = wait_run(api, body["run_id"])
    applied = second.get("applied_policies") or []
    attempts = next((len(s.get("attempts", [])) for s in second.get("step_details", []) if s.get("step_id") == "check"), 0)
    expect(
        second["status"] == "succeeded" and len(applied) == 1 and applied[0].get("policy_id") == policy
        and applied[0].get("step_id") == "check" and "retry" in applied[0].get("patch", {}) and attempts == 2,
        "the next run records the applied policy and its patch, and succeeds on the retry it added (2 attempts)",
        {"status": second["status"], "applied_policies": applied, "attempts": attempts},
    )
    expect(target.calls["/twice-down"] == 3, "the endpoint was called three times (1 + 2)", target.calls)

    status, body = api.call("POST", f"/api/v1/policies/{policy}/disable", {"note": "e2e: done"})
    expect(status == 200 and body.get("status") == "disabled", "POST /api/v1/policies/{id}/disable disables it", [status, body])
    status, body = api.call("POST", f"/api/v1/policies/{policy}/disable", {"note": "again"})
    expect(status == 409 and (body or {}).get("error", {}).get("code") == "POLICY_STATE_CONFLICT", "a second disable answers 409 POLICY_STATE_CONFLICT", [status, body])


def access_control(emu, outputs, api, tenant):
    """Behind the authorizer: a viewer key made through the API reads but cannot write (the
    function checks the permission on the principal the authorizer passed), and a person from the
    stack's Cognito user pool is authorized with the tenant and role of their token."""
    status, body = api.call("POST", "/api/v1/keys", {"name": "e2e-viewer", "role": "viewer"})
    expect(status == 201 and body.get("key", "").startswith("aos_"), "POST /api/v1/keys creates a viewer key", [status, body and {k: v for k, v in body.items() if k != "key"}])
    viewer = api.with_key(body["key"])
    status, body = viewer.call("GET", "/api/v1/whoami")
    expect(status == 200 and body.get("tenant") == tenant and body.get("role") == "viewer", "the viewer key's principal reaches the function (whoami)", [status, body])
    status, body = viewer.call("GET", "/api/v1/runs?limit=1")
    expect(status == 200, "the viewer key reads runs", [status, body])
    status, body = viewer.call("POST", "/api/v1/runs", {"plan": {"steps": []}})
    expect(status == 403 and (body or {}).get("error", {}).get("code") == "FORBIDDEN", "the viewer key may not submit: the function answers 403 FORBIDDEN", [status, body])

    idp = emu.client("cognito-idp")
    pool, client = outputs["UserPoolId"], outputs["UserPoolClientId"]
    email, password = "dev@example.com", "E2e-Passw0rd-Long!"
    idp.admin_create_user(
        UserPoolId=pool,
        Username=email,
        UserAttributes=[{"Name": "email", "Value": email}, {"Name": "custom:tenant", "Value": tenant}],
        MessageAction="SUPPRESS",
        TemporaryPassword="Temp-Passw0rd-Long!",
    )
    idp.admin_set_user_password(UserPoolId=pool, Username=email, Password=password, Permanent=True)
    idp.admin_add_user_to_group(UserPoolId=pool, Username=email, GroupName="developer")
    auth = idp.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={"USERNAME": email, "PASSWORD": password})
    person = api.with_key(auth["AuthenticationResult"]["IdToken"])
    status, body = person.call("GET", "/api/v1/whoami")
    expect(status == 200 and body.get("tenant") == tenant and body.get("role") == "developer" and body.get("kind") == "user", "a Cognito user's ID token is authorized with its tenant and group", [status, body])
    status, body = person.call("GET", "/api/v1/runs?limit=1")
    expect(status == 200, "the developer reads runs with the ID token", [status, body])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4567"))
    ap.add_argument("--build", choices=["release", "none", "debug"], default="release", help="where the functions' binaries come from (see above)")
    ap.add_argument("--no-build", dest="build", action="store_const", const="none", help="same as --build none")
    ap.add_argument("--aos", help="the aos binary that creates the first key (default: <target>/debug/aos, built if missing)")
    ap.add_argument("--protocols-python", default=str(Path(os.environ.get("AOS_TEST_ENV") or ROOT / ".test-env") / "protocols" / "bin" / "python"),
                    help="the Python of the `protocols` test venv (aiosmtpd, standardwebhooks), for the stand-ins")
    args = ap.parse_args()
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

    template = load_template()
    binaries = function_binaries(template)
    if args.build == "release":
        build_release()
    elif args.build == "debug":
        build_debug(binaries)
    paths = bootstrap_paths(binaries, args.build)
    aos = Path(args.aos) if args.aos else cargo_target_dir() / "debug" / "aos"
    if not aos.is_file():
        log(f"{aos} is missing: cargo build -p aos-cli")
        subprocess.run(["cargo", "build", "-q", "-p", "aos-cli", "--locked"], cwd=ROOT, check=True)

    emu = Emulator(args.endpoint)
    target = Target()
    standins = None
    try:
        standins = StandIns(args.protocols_python)
        started = time.time()
        emu.upload(paths, strip_debug=args.build == "debug")
        cf_template = transformed_template(template, allow_hosts="127.0.0.1", endpoint=args.endpoint)
        outputs = emu.deploy(cf_template)
        log(f"packaged and created the stack in {time.time() - started:.1f} s")
        ids = emu.physical_ids()
        monitoring(emu, ids)
        api_id = emu.ensure_http_api_routes(cf_template, ids)
        emu.ensure_authorizers(cf_template, ids, api_id)
        key, tenant = emu.bootstrap_admin_key(aos, outputs["TableName"])
        log(f"admin key for tenant {tenant} created with `aos keys bootstrap --aws`")
        scenario(emu, outputs, ids, api_id, key, tenant, target, standins)
    except Exception as e:
        log(f"FAILED: {type(e).__name__}: {e}")
        emu.dump_diagnostics()
        return 1
    finally:
        target.stop()
        if standins is not None:
            standins.stop()
    print("ministack: 1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
