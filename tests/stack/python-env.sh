#!/usr/bin/env bash
# Creates (once) the pinned Python virtualenvs the tests need, under $AOS_TEST_ENV (default
# ./.test-env, git-ignored). Each tool has its own venv because their pins conflict.
# usage: tests/stack/python-env.sh NAME...
#   moto       moto server (DynamoDB, SQS, Secrets Manager...) for the adapter tests
#   lint       cfn-lint and the SAM CLI, for tests/e2e/lint.sh (and `sam build`)
#   ministack  the ministack emulator (runs the Lambdas) plus boto3 and the SAM translator, for tests/e2e/ministack.sh
#   lambda     cargo-lambda and zig, for `cargo lambda build` (put $AOS_TEST_ENV/lambda/bin on PATH)
#   cargo-lambda  cargo-lambda alone, for `cargo lambda watch` / `invoke` (tests/e2e/lambda_local.sh)
#   protocols  the real servers and reference libraries of the skills' protocols: standardwebhooks
#              (webhook_send's receiver), aiosmtpd (email_send's SMTP server)
#   docs       mkdocs with mkdocs-material and mkdocs-swagger-ui-tag, for the documentation site
#              (tests/docs/build.sh: `mkdocs build --strict`)
#   contract   schemathesis, for tests/contract/run.sh (contract fuzzing of a running `aos serve`)
#   release    zizmor (GitHub Actions security lint), build, twine and hatchling, for tests/release/check.sh
set -euo pipefail
root=${AOS_TEST_ENV:-$(cd "$(dirname "$0")/../.." && pwd)/.test-env}
mkdir -p "$root"
for name in "$@"; do
  venv="$root/$name"
  # `first` is installed on its own before `pkgs`, for packages whose install order matters.
  first=()
  case "$name" in
    moto) pkgs=("moto[server]==5.2.5" "boto3==1.40.74") ;;
    lint) pkgs=("cfn-lint==1.58.0" "aws-sam-cli==1.170.0" "aws-sam-translator==1.115.0") ;;
    # cryptography first: installed after ministack, its Cognito JWKS is unusable. ministack pins
    # botocore 1.43.106, so boto3 is the matching release.
    ministack)
      first=("cryptography==50.0.2")
      pkgs=("ministack==1.5.33" "boto3==1.43.106" "aws-sam-translator==1.115.0")
      ;;
    lambda) pkgs=("cargo-lambda==1.9.2" "ziglang==0.17.1") ;;
    cargo-lambda) pkgs=("cargo-lambda==1.9.2") ;;
    protocols) pkgs=("standardwebhooks==1.1.0" "aiosmtpd==1.4.6") ;;
    release) pkgs=("zizmor==1.32.0" "build==1.6.1" "twine==7.0.0" "hatchling==1.33.0") ;;
    contract) pkgs=("schemathesis==4.32.5") ;;
    docs) pkgs=("mkdocs==1.6.1" "mkdocs-material==9.8.1" "mkdocs-swagger-ui-tag==0.8.1") ;;
    *) echo "unknown test env $name" >&2; exit 2 ;;
  esac
  stamp="$venv/.installed-$(printf '%s ' "${first[@]}" "${pkgs[@]}" | sha256sum | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    if [ ${#first[@]} -gt 0 ]; then
      "$venv/bin/pip" install -q --disable-pip-version-check "${first[@]}"
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check "${pkgs[@]}"
    touch "$stamp"
  fi
done
