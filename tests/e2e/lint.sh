#!/usr/bin/env bash
# Lints the SAM template offline: cfn-lint (CloudFormation schemas and rules) and
# `sam validate --lint` (the SAM transform plus cfn-lint on its output). Fails on any finding.
# usage: tests/e2e/lint.sh [TEMPLATE]   (default: template.yaml at the repository root)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=${AOS_TEST_ENV:-$PWD/.test-env}
template=${1:-template.yaml}
tests/stack/python-env.sh lint

# Offline: a region and dummy credentials keep both tools from looking for an AWS account, and
# the SAM CLI's telemetry stays off.
export AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=lint AWS_SECRET_ACCESS_KEY=lint SAM_CLI_TELEMETRY=0
unset AWS_PROFILE AWS_ENDPOINT_URL

echo "== cfn-lint $template"
if ! "$root/lint/bin/cfn-lint" "$template"; then
  echo "FAILED: cfn-lint found problems in $template" >&2
  exit 1
fi
echo "== sam validate --lint $template"
if ! "$root/lint/bin/sam" validate --lint --template-file "$template"; then
  echo "FAILED: sam validate --lint rejected $template" >&2
  exit 1
fi
echo "lint: 2 passed, 0 failed"
