//! The serverless deployment follows from the lists of functions (`aos_lambda::functions::all`:
//! the router groups of `aos_api::routers`, the skills of `aos_skills::BUILTINS`, and
//! `aos_lambda::functions::OTHERS`). This test generates what is mechanical — in template.yaml the
//! queue-URL map, each skill's queue, dead-letter queue, function (role, trigger) and its send
//! permission in the orchestrator and the sweeper, each API function's routes, every function's
//! log group and alarms, the stack outputs of the skill queues; in the Makefile the build rules
//! and the list of functions — between `BEGIN GENERATED` / `END GENERATED` markers, and fails
//! when the committed files differ. To rewrite them:
//!
//! ```sh
//! AOS_UPDATE_GENERATED=1 cargo test -p aos-lambda --test deployment
//! ```
//!
//! It checks what is written by hand against the same lists: every function has its crate, a
//! `main` that goes through `aos_lambda::run`, its workspace membership and its template
//! resource; every path of the OpenAPI document is routed to a function that serves it; the
//! staleness alert outlasts the aggregation schedule.

use aos_lambda::functions::{all, Deployed, Kind};
use aos_skills::BUILTINS;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const UPDATE: &str = "AOS_UPDATE_GENERATED=1 cargo test -p aos-lambda --test deployment";
/// The function that also serves the public routes (`/healthz`, the OpenAPI document) and the
/// `$default` route (AOS's JSON 404 for unknown paths) behind API Gateway.
const PUBLIC_ROUTES: &str = "api-skills";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

// ---------------------------------------------------------------- generated sections

fn begin(name: &str) -> String {
    format!("# BEGIN GENERATED {name} (do not edit: {UPDATE})")
}

fn end(name: &str) -> String {
    format!("# END GENERATED {name}")
}

/// `text` with the lines between the markers of `name` replaced by `content` (the markers keep
/// their indentation).
fn splice(file: &str, text: &str, name: &str, content: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let find = |marker: &str| lines.iter().position(|l| l.trim() == marker);
    let (Some(b), Some(e)) = (find(&begin(name)), find(&end(name))) else {
        return Err(format!("{file} has no generated section `{name}`: put the two lines\n    {}\n    {}\nwhere it belongs (see docs/contributing.md), then run `{UPDATE}`", begin(name), end(name)));
    };
    if e < b {
        return Err(format!("{file}: the end of the generated section `{name}` comes before its beginning"));
    }
    let mut out: Vec<String> = lines[..=b].iter().map(|l| l.to_string()).collect();
    out.extend(content.lines().map(str::to_string));
    out.extend(lines[e..].iter().map(|l| l.to_string()));
    Ok(out.join("\n") + "\n")
}

fn skills() -> Vec<Deployed> {
    all().into_iter().filter(|f| matches!(f.kind, Kind::Skill(_))).collect()
}

fn skill_id(f: &Deployed) -> &'static str {
    match f.kind {
        Kind::Skill(b) => b.id,
        _ => unreachable!("a skill function"),
    }
}

/// The queues a deployment has, as `(logical name, resource stem)`: the orchestrator's and one per skill.
fn queues() -> Vec<(String, String)> {
    let mut out = vec![(aos_runtime::messages::ORCHESTRATOR_QUEUE.to_string(), "Orchestrator".to_string())];
    out.extend(skills().iter().map(|f| (aos_runtime::messages::skill_queue(skill_id(f)), f.stem.clone())));
    out
}

fn queue_urls() -> String {
    let pairs: Vec<String> = queues()
        .iter()
        .map(|(name, stem)| format!("\"{name}\":\"${{{stem}Queue}}\",\"{name}.dlq\":\"${{{stem}DeadLetterQueue}}\""))
        .collect();
    format!(
        "        # Logical queue name -> URL (`!Ref` of a queue is its URL): the orchestrator's and each skill's.\n        AOS_QUEUE_URLS: !Sub >-\n          {{{}}}\n",
        pairs.join(",\n          ")
    )
}

fn skill_queues() -> String {
    skills()
        .iter()
        .map(|f| {
            format!(
                "  {s}DeadLetterQueue:\n    Type: AWS::SQS::Queue\n    Properties:\n      MessageRetentionPeriod: 1209600\n      SqsManagedSseEnabled: true\n  {s}Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      VisibilityTimeout: 960\n      SqsManagedSseEnabled: true\n      RedrivePolicy:\n        deadLetterTargetArn: !GetAtt {s}DeadLetterQueue.Arn\n        maxReceiveCount: 5\n",
                s = f.stem
            )
        })
        .collect()
}

fn skill_sends() -> String {
    skills().iter().map(|f| format!("        - SQSSendMessagePolicy: {{ QueueName: !GetAtt {}Queue.QueueName }}\n", f.stem)).collect()
}

fn skill_functions() -> String {
    skills()
        .iter()
        .map(|f| {
            let Kind::Skill(b) = f.kind else { unreachable!() };
            format!(
                r#"  {s}Function:
    Type: AWS::Serverless::Function
    Metadata:
      # `make build-<LogicalId>` (the Makefile): cargo lambda build -p {p} --profile lambda-release
      BuildMethod: makefile
    Properties:
      Description: AOS skill {id} - executes step attempts from the skill.{id} queue
      MemorySize: {mem}
      Timeout: 900
      LoggingConfig:
        LogGroup: !Ref {s}Logs
      Policies:
        - Statement:
            - Effect: Allow # read, claim and record one attempt item
              Action: [dynamodb:GetItem, dynamodb:PutItem]
              Resource: !GetAtt Table.Arn
            - Effect: Allow # the metric totals: one atomic ADD per series into the metrics#<name> items (docs/dynamodb.md)
              Action: dynamodb:UpdateItem
              Resource: !GetAtt Table.Arn
              Condition:
                ForAllValues:StringLike:
                  dynamodb:LeadingKeys: ["metrics#*"]
            - Effect: Allow # secrets the step input references, of its own tenant only (the name carries the tenant)
              Action: secretsmanager:GetSecretValue
              Resource: !Sub arn:${{AWS::Partition}}:secretsmanager:${{AWS::Region}}:${{AWS::AccountId}}:secret:aos/${{AWS::StackName}}/*
{own}        - SQSSendMessagePolicy: {{ QueueName: !GetAtt OrchestratorQueue.QueueName }}
      Events:
        StepTasks:
          Type: SQS
          Properties:
            Queue: !GetAtt {s}Queue.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
"#,
                s = f.stem,
                p = f.package,
                id = b.id,
                mem = b.lambda_memory_mb,
                own = b.aws_statements
            )
        })
        .collect()
}

/// The whole OpenAPI document, as the code generates it (the committed one must equal it).
fn document() -> Value {
    serde_json::to_value(aos_api::openapi()).expect("the OpenAPI document")
}

/// Paths no group serves: every API function serves them (`aos_api::routers_app`), and they need
/// no credential.
fn public_paths() -> Vec<String> {
    let grouped: BTreeSet<String> = aos_api::routers::ALL.iter().flat_map(|g| g.paths()).collect();
    document()["paths"].as_object().expect("paths").keys().filter(|p| !grouped.contains(*p)).cloned().collect()
}

/// An event's logical name from its path: `/api/v1/runs/{id}/cancel` → `RunsIdCancel`.
fn event_name(path: &str) -> String {
    let path = path.strip_prefix("/api/v1/").unwrap_or(path);
    path.split(['/', '.', '-', '_', '{', '}']).filter(|w| !w.is_empty()).map(|w| w[..1].to_ascii_uppercase() + &w[1..]).collect()
}

fn routes(f: &Deployed) -> String {
    let Kind::Api(group) = f.kind else { unreachable!("an API function") };
    let route = |path: &str, public: bool| {
        let auth = if public { ", Auth: { Authorizer: NONE }" } else { "" };
        format!(
            "        {}: {{ Type: HttpApi, Properties: {{ ApiId: !Ref HttpApi, Path: \"{path}\", Method: ANY{auth} }} }}\n",
            event_name(path)
        )
    };
    let mut out: String = group.paths().iter().map(|p| route(p, false)).collect();
    if f.package == PUBLIC_ROUTES {
        for p in public_paths() {
            out += &route(&p, true);
        }
        out += "        # The $default route: any other request gets AOS's JSON 404 instead of the gateway's.\n";
        out += "        Fallback: { Type: HttpApi, Properties: { ApiId: !Ref HttpApi } }\n";
    }
    out
}

fn log_groups() -> String {
    all()
        .iter()
        .map(|f| format!("  {}Logs:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      LogGroupName: !Sub /aos/${{AWS::StackName}}/{}\n      RetentionInDays: !Ref LogRetentionDays\n", f.stem, f.package))
        .collect()
}

#[allow(clippy::too_many_arguments)] // one CloudWatch alarm's properties, spelled out
fn alarm(
    name: &str,
    description: &str,
    namespace: &str,
    metric: &str,
    dimension: &str,
    value: &str,
    statistic: &str,
    period: u32,
) -> String {
    format!(
        "  {name}:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n      AlarmDescription: {description}\n      Namespace: {namespace}\n      MetricName: {metric}\n      Dimensions: [{{ Name: {dimension}, Value: {value} }}]\n      Statistic: {statistic}\n      Period: {period}\n      EvaluationPeriods: 1\n      Threshold: 0\n      ComparisonOperator: GreaterThanThreshold\n      TreatMissingData: notBreaching\n      AlarmActions: [!Ref AlarmTopic]\n"
    )
}

fn alarms() -> String {
    let mut out = String::new();
    for (name, stem) in queues() {
        let what = match name.strip_prefix("skill.") {
            None => format!("Advance messages were dead-lettered ({name}.dlq); see docs/operations.md#dead-letter-queues"),
            Some(id) => format!("{id} step tasks were dead-lettered ({name}.dlq)"),
        };
        out += &alarm(
            &format!("{stem}DeadLettersAlarm"),
            &what,
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            "QueueName",
            &format!("!GetAtt {stem}DeadLetterQueue.QueueName"),
            "Maximum",
            60,
        );
    }
    for f in all() {
        out += &alarm(
            &format!("{}ErrorsAlarm", f.stem),
            &f.alarm(),
            "AWS/Lambda",
            "Errors",
            "FunctionName",
            &format!("!Ref {}", f.logical_id()),
            "Sum",
            300,
        );
    }
    out
}

fn outputs() -> String {
    let mut out: String = skills().iter().map(|f| format!("  {s}QueueUrl:\n    Value: !Ref {s}Queue\n", s = f.stem)).collect();
    let (names, refs): (Vec<String>, Vec<String>) =
        queues().iter().map(|(n, s)| (format!("{n}.dlq"), format!("!Ref {s}DeadLetterQueue"))).unzip();
    out += &format!("  DeadLetterQueueUrls:\n    Description: {}\n    Value: !Join [\" \", [{}]]\n", names.join(", "), refs.join(", "));
    out
}

fn makefile_rules() -> String {
    let fs = all();
    let mut out: String = fs.iter().map(|f| format!("build-{}: FUNCTION = {}\n", f.logical_id(), f.package)).collect();
    out += &format!("FUNCTIONS = {}\n", fs.iter().map(|f| f.package.as_str()).collect::<Vec<_>>().join(" "));
    out
}

/// Every generated section: (file, section, content).
fn sections() -> Vec<(&'static str, String, String)> {
    let mut out = vec![
        ("template.yaml", "queue-urls".to_string(), queue_urls()),
        ("template.yaml", "skill-queues".into(), skill_queues()),
        ("template.yaml", "skill-sends orchestrator".into(), skill_sends()),
        ("template.yaml", "skill-sends sweeper".into(), skill_sends()),
        ("template.yaml", "skill-functions".into(), skill_functions()),
        ("template.yaml", "log-groups".into(), log_groups()),
        ("template.yaml", "alarms".into(), alarms()),
        ("template.yaml", "outputs".into(), outputs()),
        ("Makefile", "functions".into(), makefile_rules()),
    ];
    for f in all().iter().filter(|f| matches!(f.kind, Kind::Api(_))) {
        out.push(("template.yaml", format!("routes {}", f.package), routes(f)));
    }
    out
}

#[test]
fn generated_sections_are_current() {
    let update = std::env::var("AOS_UPDATE_GENERATED").is_ok_and(|v| v == "1");
    let mut files: BTreeMap<&str, String> = BTreeMap::new();
    let mut problems = Vec::new();
    for (file, name, content) in sections() {
        let text = files.entry(file).or_insert_with(|| read(file));
        match splice(file, text, &name, &content) {
            Ok(new) => *text = new,
            Err(e) => problems.push(e),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    let mut stale = Vec::new();
    for (file, text) in &files {
        let committed = read(file);
        if committed == *text {
            continue;
        }
        if update {
            std::fs::write(root().join(file), text).unwrap_or_else(|e| panic!("writing {file}: {e}"));
            continue;
        }
        let first =
            committed.lines().zip(text.lines()).position(|(a, b)| a != b).unwrap_or(committed.lines().count().min(text.lines().count()));
        stale.push(format!(
            "{file}, from line {}:\n  committed: {:?}\n  generated: {:?}",
            first + 1,
            committed.lines().nth(first).unwrap_or(""),
            text.lines().nth(first).unwrap_or("")
        ));
    }
    assert!(
        stale.is_empty(),
        "the generated sections differ from the lists of functions and skills (aos_api::routers::ALL, aos_skills::BUILTINS, aos_lambda::functions::OTHERS):\n{}\nRegenerate them with `{UPDATE}` and commit the result.",
        stale.join("\n")
    );
}

// ---------------------------------------------------------------- template.yaml, read back

/// The template's resources: logical id → its lines (the block under `  <id>:` in `Resources:`).
fn resources(template: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (mut inside, mut current) = (false, None::<String>);
    for line in template.lines() {
        if !line.starts_with(' ') && !line.starts_with('#') && !line.is_empty() {
            inside = line.trim_end() == "Resources:";
            current = None;
            continue;
        }
        if !inside {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 2 && line.trim_end().ends_with(':') && !line.trim_start().starts_with('#') {
            let id = line.trim().trim_end_matches(':').to_string();
            out.insert(id.clone(), Vec::new());
            current = Some(id);
        } else if let Some(id) = &current {
            out.get_mut(id).expect("current resource").push(line.to_string());
        }
    }
    out
}

fn is_function(lines: &[String]) -> bool {
    lines.iter().any(|l| l.trim() == "Type: AWS::Serverless::Function")
}

/// The HTTP API routes of a function's resource: (path, public), `$default` for the event without a path.
fn http_routes(lines: &[String]) -> Vec<(String, bool)> {
    lines
        .iter()
        .filter(|l| l.contains("Type: HttpApi"))
        .map(|l| {
            let path = l
                .split("Path: ")
                .nth(1)
                .map(|rest| rest.trim_start_matches('"').split(['"', ',', ' ']).next().unwrap_or("").to_string())
                .unwrap_or_else(|| "$default".into());
            (path, l.contains("Authorizer: NONE"))
        })
        .collect()
}

#[test]
fn every_function_has_its_crate_its_main_goes_through_the_wrapper_and_it_is_in_the_template() {
    let template = read("template.yaml");
    let res = resources(&template);
    let workspace = read("Cargo.toml");
    let listed: BTreeSet<String> = all().iter().map(|f| f.package.clone()).collect();
    let dirs: BTreeSet<String> = std::fs::read_dir(root().join("functions"))
        .expect("functions/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut problems = Vec::new();
    for d in dirs.difference(&listed) {
        problems.push(format!("functions/{d} is no function of the lists: add it to aos_lambda::functions::OTHERS (or it is a skill function or API function whose skill or router group is missing: aos_skills::BUILTINS, aos_api::routers::ALL)"));
    }
    for f in all() {
        let dir = format!("functions/{}", f.package);
        if !dirs.contains(&f.package) {
            let main = match f.kind {
                Kind::Api(_) => "aos_lambda::api_function!()".to_string(),
                Kind::Skill(_) => "aos_lambda::skill_function!()".to_string(),
                Kind::Other(_) => format!("aos_lambda::{}::Function", f.package.replace('-', "_")),
            };
            problems.push(format!("{} has no crate: add {dir}/Cargo.toml and {dir}/src/main.rs, whose main is `aos_lambda::run({main}).await` (copy another function's)", f.package));
            continue;
        }
        let main = read(&format!("{dir}/src/main.rs"));
        let manifest = read(&format!("{dir}/Cargo.toml"));
        if main.lines().count() > 15 {
            problems.push(format!(
                "{dir}/src/main.rs has {} lines: a function's main is at most 15, its logic lives in aos-lambda",
                main.lines().count()
            ));
        }
        if !main.contains("aos_lambda::run(") {
            problems
                .push(format!("{dir}/src/main.rs does not start through `aos_lambda::run(...)`, the wrapper every function goes through"));
        }
        for forbidden in ["lambda_runtime", "lambda_http"] {
            if main.contains(forbidden) || manifest.contains(forbidden) {
                problems.push(format!(
                    "{dir} uses `{forbidden}` directly: a function reaches the Lambda runtime only through `aos_lambda::run`"
                ));
            }
        }
        let deps = dependencies(&manifest);
        if let Some(other) = deps.iter().find(|d| !["aos-lambda", "aos-skills", "tokio"].contains(&d.as_str())) {
            problems.push(format!("{dir}/Cargo.toml depends on `{other}`: a function depends on aos-lambda and tokio (and aos-skills for its skill's executor feature) only"));
        }
        if !workspace.contains(&format!("\"{dir}\"")) && !workspace.contains("\"functions/*\"") {
            problems.push(format!("{dir} is not a workspace member: add \"{dir}\" to `members` in Cargo.toml"));
        }
        let id = f.logical_id();
        match res.get(&id) {
            None => problems.push(format!("template.yaml has no resource `{id}` for {}: add an AWS::Serverless::Function `{id}` with `Metadata: BuildMethod: makefile`, `LoggingConfig: LogGroup: !Ref {}Logs`, its policies and its events (see the other functions)", f.package, f.stem)),
            Some(lines) => {
                let has = |text: &str| lines.iter().any(|l| l.trim() == text);
                if !is_function(lines) || !has("BuildMethod: makefile") || !has(&format!("LogGroup: !Ref {}Logs", f.stem)) {
                    problems.push(format!("template.yaml: `{id}` must be an AWS::Serverless::Function with `BuildMethod: makefile` and `LogGroup: !Ref {}Logs`", f.stem));
                }
            }
        }
    }
    let ids: BTreeSet<String> = all().iter().map(Deployed::logical_id).collect();
    for (id, lines) in &res {
        if is_function(lines) && !ids.contains(id) {
            problems.push(format!("template.yaml's function `{id}` is in none of the lists (aos_lambda::functions::OTHERS, aos_api::routers::ALL, aos_skills::BUILTINS)"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The names under `[dependencies]` of a Cargo.toml.
fn dependencies(manifest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == "[dependencies]";
        } else if inside && !line.is_empty() && !line.starts_with('#') {
            out.push(line.split(['=', '.', ' ']).next().unwrap_or("").to_string());
        }
    }
    out
}

#[test]
fn every_openapi_path_is_routed_to_a_function_that_serves_it() {
    let committed: Value = serde_json::from_str(&read("docs/openapi.json")).expect("docs/openapi.json is JSON");
    assert_eq!(
        committed,
        document(),
        "docs/openapi.json differs from the code: regenerate it with `cargo run -p aos-cli -- openapi > docs/openapi.json`"
    );
    let template = read("template.yaml");
    let res = resources(&template);
    let by_id: BTreeMap<String, Deployed> = all().into_iter().map(|f| (f.logical_id(), f)).collect();
    // Path → the functions the template routes it to, with whether the route is public.
    let mut routed: BTreeMap<String, Vec<(String, bool)>> = BTreeMap::new();
    for (id, lines) in &res {
        for (path, public) in http_routes(lines) {
            routed.entry(path).or_default().push((id.clone(), public));
        }
    }
    let public = public_paths();
    let mut problems = Vec::new();
    let doc_paths: Vec<(String, Value)> =
        committed["paths"].as_object().expect("paths").iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (path, item) in &doc_paths {
        let serving: Vec<&Deployed> = by_id.values().filter(|f| matches!(f.kind, Kind::Api(g) if g.paths().contains(path))).collect();
        let needs_credential = item.as_object().expect("path item").values().any(|op| op.get("security").is_some());
        let owner = match (serving.as_slice(), public.contains(path)) {
            ([one], false) => one.logical_id(),
            ([], true) => by_id.values().find(|f| f.package == PUBLIC_ROUTES).expect("the public routes' function").logical_id(),
            (more, _) => {
                problems.push(format!("{path} is served by {} router groups of aos_api::routers (one expected)", more.len()));
                continue;
            }
        };
        match routed.get(path).map(Vec::as_slice) {
            None | Some([]) => {
                problems.push(format!("{path} is not routed in template.yaml: it belongs in the Events of `{owner}` (run `{UPDATE}`)"))
            }
            Some([(id, public_route)]) => {
                if *id != owner {
                    problems.push(format!("template.yaml routes {path} to `{id}`, but `{owner}` serves it"));
                }
                if *public_route == needs_credential {
                    problems.push(format!(
                        "template.yaml: the route of {path} {} the authorizer, but the document says the path {} a credential",
                        if *public_route { "skips" } else { "goes through" },
                        if needs_credential { "needs" } else { "needs no" }
                    ));
                }
            }
            Some(more) => problems.push(format!("template.yaml routes {path} to several functions: {more:?}")),
        }
    }
    for (path, to) in &routed {
        if path != "$default" && !doc_paths.iter().any(|(p, _)| p == path) {
            problems.push(format!("template.yaml routes {path} (to {to:?}), which the OpenAPI document does not have"));
        }
        for (id, _) in to {
            if !matches!(by_id.get(id).map(|f| f.kind), Some(Kind::Api(_))) {
                problems.push(format!("template.yaml routes {path} to `{id}`, which is no API function"));
            }
        }
    }
    let fallback = routed.get("$default").map(Vec::as_slice).unwrap_or_default();
    if fallback.len() != 1 {
        problems.push(format!(
            "template.yaml needs exactly one $default route (an HttpApi event without a path), to an API function: {fallback:?}"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every function's resources, derived and read back: a forgotten skill or function shows.
#[test]
fn every_skill_has_its_queues_function_alarms_and_send_permissions() {
    let template = read("template.yaml");
    let res = resources(&template);
    let mut problems = Vec::new();
    for b in BUILTINS {
        let stem = aos_lambda::functions::pascal(b.id);
        for id in [
            format!("{stem}Queue"),
            format!("{stem}DeadLetterQueue"),
            format!("{stem}Function"),
            format!("{stem}Logs"),
            format!("{stem}DeadLettersAlarm"),
            format!("{stem}ErrorsAlarm"),
        ] {
            if !res.contains_key(&id) {
                problems.push(format!("template.yaml has no `{id}` for the skill `{}`: run `{UPDATE}`", b.id));
            }
        }
        for sender in ["OrchestratorFunction", "SweeperFunction"] {
            let grants = res.get(sender).is_some_and(|lines| lines.iter().any(|l| l.contains(&format!("!GetAtt {stem}Queue.QueueName"))));
            if !grants {
                problems.push(format!("template.yaml: `{sender}` may not send to skill.{}: run `{UPDATE}`", b.id));
            }
        }
        if !template.contains(&format!("\"skill.{}\":\"${{{stem}Queue}}\"", b.id)) {
            problems.push(format!("template.yaml: AOS_QUEUE_URLS has no skill.{}: run `{UPDATE}`", b.id));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------- the aggregation's staleness alert

/// The period of the aggregator's schedule in template.yaml, in seconds (`cron(M H * * ? *)`:
/// daily; `rate(N unit)`).
fn aggregation_period_s(template: &str) -> u64 {
    let res = resources(template);
    let lines = res.get("AggregatorFunction").expect("AggregatorFunction");
    let schedule = lines.iter().find_map(|l| l.trim().strip_prefix("Schedule: ")).expect("the aggregator's schedule");
    if let Some(cron) = schedule.strip_prefix("cron(").and_then(|s| s.strip_suffix(')')) {
        let f: Vec<&str> = cron.split(' ').collect();
        assert!(
            f.len() == 6 && f[0].parse::<u32>().is_ok() && f[1].parse::<u32>().is_ok() && f[2..] == ["*", "*", "?", "*"],
            "not a daily cron: {schedule}"
        );
        return 86_400;
    }
    let rate = schedule.strip_prefix("rate(").and_then(|s| s.strip_suffix(')')).unwrap_or_else(|| panic!("unknown schedule {schedule}"));
    let (n, unit) = rate.split_once(' ').expect("rate(N unit)");
    let n: u64 = n.parse().expect("a number");
    n * match unit.trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        other => panic!("unknown unit {other}"),
    }
}

#[test]
fn the_staleness_alert_outlasts_the_aggregation_schedule() {
    let period = aggregation_period_s(&read("template.yaml"));
    let alerts = read("infra/prometheus/aos-alerts.yml");
    let expr = alerts
        .lines()
        .find(|l| l.contains("failure_aggregation_last_success_timestamp_seconds") && l.contains("expr:"))
        .expect("the AosFailureAggregationStale rule");
    let threshold: u64 =
        expr.rsplit('>').next().and_then(|t| t.trim().parse().ok()).unwrap_or_else(|| panic!("a threshold in seconds: {expr}"));
    // Quiet all day between two passes (a pass may take up to the aggregator's 15 minutes), and
    // firing once one scheduled pass is missed.
    assert!(
        threshold >= period + 3600,
        "the staleness alert ({threshold} s) fires between two scheduled passes ({period} s apart): raise it to the period plus a margin"
    );
    assert!(threshold < 2 * period, "the staleness alert ({threshold} s) waits for more than one missed pass ({period} s apart)");
}
