# Builds the Lambda functions. `sam build` runs `make build-<LogicalId>` here for each function of
# template.yaml (`BuildMethod: makefile`; samconfig.toml sets `build_in_source`, so the workspace's
# target directory is reused) with ARTIFACTS_DIR set: each function is its own package, built alone
# so that it links only what it uses (cargo features do not unify across functions), with the
# size-optimised `lambda-release` profile (Cargo.toml). See docs/deploy.md.
#
#   make lambdas LAMBDA_ARCH=--x86-64   # every function into <target>/lambda/<fn>/bootstrap
#
# Needs cargo-lambda and zig (tests/stack/python-env.sh lambda), and for arm64 the standard
# library: rustup target add aarch64-unknown-linux-gnu.

LAMBDA_PROFILE ?= lambda-release
LAMBDA_ARCH ?= --arm64
CARGO_LAMBDA = cargo lambda build --profile $(LAMBDA_PROFILE) $(LAMBDA_ARCH) --locked

# Logical id in template.yaml -> package under functions/, and every function, from the lists of
# functions (aos_lambda::functions; tests/e2e/ministack.py and tests/bench/lambda_init.py read these lines).
# BEGIN GENERATED functions (do not edit: AOS_UPDATE_GENERATED=1 cargo test -p aos-lambda --test deployment)
build-AuthorizerFunction: FUNCTION = authorizer
build-ApiRunsFunction: FUNCTION = api-runs
build-ApiSkillsFunction: FUNCTION = api-skills
build-ApiSecretsFunction: FUNCTION = api-secrets
build-ApiFailuresFunction: FUNCTION = api-failures
build-ApiMetricsFunction: FUNCTION = api-metrics
build-ApiRecoveryFunction: FUNCTION = api-recovery
build-OrchestratorFunction: FUNCTION = orchestrator
build-SweeperFunction: FUNCTION = sweeper
build-AggregatorFunction: FUNCTION = aggregator
build-JsonTransformFunction: FUNCTION = skill-json-transform
build-HttpCallFunction: FUNCTION = skill-http-call
build-KvStoreFunction: FUNCTION = skill-kv-store
build-WebhookSendFunction: FUNCTION = skill-webhook-send
build-EmailSendFunction: FUNCTION = skill-email-send
build-SlackSendFunction: FUNCTION = skill-slack-send
build-FsFunction: FUNCTION = skill-fs
FUNCTIONS = authorizer api-runs api-skills api-secrets api-failures api-metrics api-recovery orchestrator sweeper aggregator skill-json-transform skill-http-call skill-kv-store skill-webhook-send skill-email-send skill-slack-send skill-fs
# END GENERATED functions

build-%Function:
	test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 2; }
	$(CARGO_LAMBDA) -p $(FUNCTION) --lambda-dir "$(ARTIFACTS_DIR)" --flatten $(FUNCTION)

lambdas:
	for f in $(FUNCTIONS); do $(CARGO_LAMBDA) -p $$f || exit 1; done

# The functions' packages, one per line (tests/run.sh checks each one alone).
functions:
	@printf '%s\n' $(FUNCTIONS)

.PHONY: lambdas functions
