#!/usr/bin/env bash
# Every check of sinkhole's Terraform, offline:
#   1. terraform fmt -check -recursive terraform/
#   2. init -backend=false + validate: the module and examples/stage
#   3. terraform test in the module (mock_provider "aws", command = plan)
#   4. plans with the REAL provider against a fake STS (tests/offline_plan):
#      exact resource sets (with the safety net on smtp-out's log group too),
#      the prod guard's message, prevent_destroy, ignore_changes on the mode
#      parameter, flag off keeps the ECR repository
#   5. the Cloud Map drain/rebind scripts against a fake AWS CLI
#   6. static checks of what no plan can show (lifecycle clauses, README)
#   7. shellcheck of the shell scripts (when shellcheck is installed)
#   8. checkov
#
# Needs terraform and a filesystem mirror of hashicorp/aws (found under /opt,
# /usr/share, /usr/local/share or ~/.terraform.d; or TF_PROVIDER_MIRROR=DIR;
# or TF_MIRROR_SEARCH_PATH=DIR:DIR to search elsewhere).
# Never downloads a provider (except with SINKHOLE_TF_PROVIDER_DOWNLOAD=1, for
# GitHub's runners, which have no mirror). When terraform, the mirror or checkov is
# missing, the part that needs it is SKIPPED with a banner and the script
# still exits 0, unless TERRAFORM_TESTS_REQUIRED=1 (then a skip is a failure).
# Run from anywhere: bash terraform/test.sh
set -uo pipefail

tf_root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$tf_root/.." && pwd)
module_rel=modules/sinkhole
example_rel=examples/stage

work=$(mktemp -d "${TMPDIR:-/tmp}/sinkhole-terraform.XXXXXX")
fake_sts_pid=""
trap 'rm -rf "$work"' EXIT

failures=()
skips=()
versions=()

step() { printf '\n==> %s\n' "$*"; }
pass() { printf '    ok: %s\n' "$*"; }
fail() {
  printf '    FAIL: %s\n' "$*"
  failures+=("$*")
}
banner() {
  local line="SKIPPED: $1 ($2)"
  skips+=("$line")
  printf '\n%s\n' "######################################################################"
  printf '##\n##  %s\n' "$line"
  printf '##  This part was NOT checked. TERRAFORM_TESTS_REQUIRED=1 makes it fail.\n##\n'
  printf '%s\n' "######################################################################"
}

# run LABEL COMMAND...: runs it, output indented; records a failure.
run() {
  local label=$1
  shift
  local rc=0
  "$@" 2>&1 | sed 's/^/    /' || rc=$?
  # pipefail: rc is the command's status (sed does not fail).
  if [ "$rc" -eq 0 ]; then pass "$label"; else fail "$label (exit $rc)"; fi
  return "$rc"
}

# run_quiet LABEL COMMAND...: the same, showing the output only on failure.
run_quiet() {
  local label=$1
  shift
  local rc=0 log
  log=$(mktemp "$work/run.XXXXXX")
  "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    pass "$label"
  else
    sed 's/^/    /' "$log"
    fail "$label (exit $rc)"
  fi
  return "$rc"
}

# -- Terraform and the provider mirror ---------------------------------------

# find_mirror PLATFORM: prints the directory that holds
# registry.terraform.io/hashicorp/aws/<version>/<PLATFORM>. Searched:
# TF_PROVIDER_MIRROR, then TF_MIRROR_SEARCH_PATH (colon-separated; default
# /opt:/usr/share:/usr/local/share:~/.terraform.d).
find_mirror() {
  local platform=$1 base dir bases
  IFS=: read -r -a bases <<<"${TF_MIRROR_SEARCH_PATH:-/opt:/usr/share:/usr/local/share:$HOME/.terraform.d}"
  for base in "${TF_PROVIDER_MIRROR:-}" "${bases[@]}"; do
    if [ -z "$base" ] || [ ! -d "$base" ]; then continue; fi
    while IFS= read -r dir; do
      if compgen -G "$dir/*/$platform" >/dev/null; then
        printf '%s\n' "${dir%/registry.terraform.io/hashicorp/aws}"
        return 0
      fi
    done < <(find "$base" -maxdepth 6 -type d -path '*/registry.terraform.io/hashicorp/aws' 2>/dev/null | sort)
  done
  return 1
}

terraform_ready=false
if ! command -v terraform >/dev/null 2>&1; then
  banner "terraform tests" "terraform is not on PATH"
else
  platform=$(terraform version -json 2>/dev/null | sed -n 's/.*"platform": *"\([^"]*\)".*/\1/p')
  platform=${platform:-linux_amd64}
  if [ "${SINKHOLE_TF_PROVIDER_DOWNLOAD:-0}" = 1 ]; then
    # GitHub's runners have no mirror: there (only) the provider comes from the registry.
    mirror=""
    terraform_ready=true
  elif ! mirror=$(find_mirror "$platform"); then
    banner "terraform tests" "no filesystem mirror of registry.terraform.io/hashicorp/aws for $platform in ${TF_PROVIDER_MIRROR:+$TF_PROVIDER_MIRROR:}${TF_MIRROR_SEARCH_PATH:-/opt:/usr/share:/usr/local/share:$HOME/.terraform.d}"
  else
    terraform_ready=true
  fi
fi

if $terraform_ready; then
  # Our own CLI config: the mirror for hashicorp/aws, never the network for it
  # (SINKHOLE_TF_PROVIDER_DOWNLOAD=1: the registry, as on GitHub's runners).
  cli_config="$work/terraform.rc"
  if [ -z "$mirror" ]; then
    : >"$cli_config"
  else
    cat >"$cli_config" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }
}
EOF
  fi
  export TF_CLI_CONFIG_FILE="$cli_config"
  unset TF_PLUGIN_CACHE_DIR TF_DATA_DIR TF_WORKSPACE
  export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1

  tf_version=$(terraform version 2>/dev/null | head -1)
  versions+=("$tf_version ($platform)" "provider mirror: $mirror")
  step "Terraform: $tf_version, provider mirror $mirror"

  # The checks run on a copy, so the work tree gets no .terraform/ or lock file.
  mkdir -p "$work/tree"
  (cd "$tf_root" && tar --exclude=.terraform --exclude=.terraform.lock.hcl -cf - .) | (cd "$work/tree" && tar -xf -)

  step "1. terraform fmt -check -recursive terraform/"
  run "fmt" terraform fmt -check -recursive -diff "$tf_root"

  step "2. init -backend=false + validate"
  for dir in "$module_rel" "$example_rel"; do
    if run_quiet "init $dir" terraform -chdir="$work/tree/$dir" init -backend=false -input=false -no-color; then
      run "validate $dir" terraform -chdir="$work/tree/$dir" validate -no-color
    fi
  done
  provider_version=$(terraform -chdir="$work/tree/$module_rel" version 2>/dev/null | sed -n 's/.*provider registry.terraform.io\/hashicorp\/aws \(v[0-9.]*\).*/\1/p')
  versions+=("hashicorp/aws ${provider_version:-unknown}")

  step "3. terraform test ($module_rel, mock_provider aws, command = plan)"
  run "terraform test" terraform -chdir="$work/tree/$module_rel" test -no-color
else
  versions+=("terraform: not run")
fi

# -- 4. Plans with the real provider against a fake STS -----------------------

# plan_actions PLANFILE: "address action[,action]" per planned resource.
plan_actions() {
  terraform -chdir="$offline" show -json "$1" | python3 -c '
import json, sys
plan = json.load(sys.stdin)
for r in plan.get("resource_changes", []):
    print(r["address"], ",".join(r["change"]["actions"]))
'
}

# expect_actions LABEL PLANFILE EXPECTED: the planned set must be EXPECTED
# (lines "address action", any order).
expect_actions() {
  local label=$1 plan=$2 expected=$3 actual
  actual=$(plan_actions "$plan" | sort)
  if [ "$actual" = "$(printf '%s\n' "$expected" | sort)" ]; then
    pass "$label"
  else
    fail "$label"
    diff <(printf '%s\n' "$expected" | sort) <(printf '%s\n' "$actual") | sed 's/^/      /'
  fi
}

# planned_value PLANFILE ADDRESS ATTRIBUTE: that attribute of that resource
# after the change, as JSON.
planned_value() {
  terraform -chdir="$offline" show -json "$1" | python3 -c '
import json, sys
address, attribute = sys.argv[1], sys.argv[2]
plan = json.load(sys.stdin)
for r in plan.get("resource_changes", []):
    if r["address"] == address:
        print(json.dumps((r["change"]["after"] or {}).get(attribute), sort_keys=True))
' "$2" "$3"
}

# offline_plan NAME ARGS...: terraform plan in the offline root; output in
# $work/NAME.log, plan in $work/NAME.plan; returns plan's status.
offline_plan() {
  local name=$1
  shift
  terraform -chdir="$offline" plan -no-color -input=false -lock=false \
    -var "endpoint=$endpoint" -out="$work/$name.plan" "$@" >"$work/$name.log" 2>&1
}

offline_checks() {
  offline="$work/tree/tests/offline_plan"
  # AWS's documented example keys; every endpoint is the fake.
  export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
  export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
  export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE

  python3 "$work/tree/tests/fake_sts.py" "$work/sts.port" &
  fake_sts_pid=$!
  # This runs in a subshell: its own EXIT trap stops the fake STS.
  trap 'kill "$fake_sts_pid" 2>/dev/null; wait "$fake_sts_pid" 2>/dev/null' EXIT
  for _ in $(seq 50); do
    [ -s "$work/sts.port" ] && break
    sleep 0.1
  done
  if ! [ -s "$work/sts.port" ]; then
    fail "fake STS did not start"
    return
  fi
  endpoint="http://127.0.0.1:$(cat "$work/sts.port")"

  if ! run_quiet "init tests/offline_plan" terraform -chdir="$offline" init -backend=false -input=false -no-color; then
    return
  fi

  local m=module.sinkhole tier
  tier="$m.aws_cloudwatch_log_group.this[0] create
$m.aws_ecs_service.this[0] create
$m.aws_ecs_task_definition.this[0] create
$m.aws_iam_role.execution[0] create
$m.aws_iam_role.task[0] create
$m.aws_iam_role_policy.task[0] create
$m.aws_iam_role_policy_attachment.execution[0] create
$m.aws_security_group.this[0] create
$m.aws_service_discovery_service.this[0] create
$m.aws_ssm_parameter.mode[0] create
$m.terraform_data.sinkhole_cloud_map_lifecycle[0] create"

  if offline_plan off -var environment=prod -var sinkhole=false; then
    expect_actions "prod, flag off: plans exactly the ECR repository and the guard" "$work/off.plan" \
      "$m.aws_ecr_repository.this create
$m.terraform_data.prod_guard create"
  else
    fail "prod, flag off: plan failed"
    sed 's/^/      /' "$work/off.log"
  fi

  if offline_plan on -var environment=stage -var sinkhole=true; then
    expect_actions "stage, flag on: plans the ECR repository, the guard and the 11 resources of the tier" "$work/on.plan" \
      "$m.aws_ecr_repository.this create
$m.terraform_data.prod_guard create
$tier"
  else
    fail "stage, flag on: plan failed"
    sed 's/^/      /' "$work/on.log"
  fi

  # The safety net on smtp-out's log group: two resources more, with the tier
  # or without it (prod included), and the pattern as the provider plans it.
  local net="$m.aws_cloudwatch_log_metric_filter.sinkhole_test_queued[0] create
$m.aws_cloudwatch_metric_alarm.sinkhole_test_queued[0] create"
  local net_vars=(-var smtp_out_log_group_name=/ecs/cabal-smtp-out
    -var 'queued_alarm_actions=["arn:aws:sns:eu-west-2:123456789012:cabal-alarms"]')

  if offline_plan net-on -var environment=stage -var sinkhole=true "${net_vars[@]}"; then
    expect_actions "stage, flag on, smtp_out_log_group_name set: the tier, plus the metric filter and the alarm" "$work/net-on.plan" \
      "$m.aws_ecr_repository.this create
$m.terraform_data.prod_guard create
$tier
$net"
    local pattern actions
    pattern=$(planned_value "$work/net-on.plan" "$m.aws_cloudwatch_log_metric_filter.sinkhole_test_queued[0]" pattern)
    if [ "$pattern" = '"%@sinkhole\\.test.*stat=[Dq]%"' ]; then
      pass "the metric filter's pattern, as the provider plans it: %@sinkhole\.test.*stat=[Dq]%"
    else
      fail "the metric filter's pattern is $pattern, not %@sinkhole\.test.*stat=[Dq]%"
    fi
    actions=$(planned_value "$work/net-on.plan" "$m.aws_cloudwatch_metric_alarm.sinkhole_test_queued[0]" alarm_actions)
    if [ "$actions" = '["arn:aws:sns:eu-west-2:123456789012:cabal-alarms"]' ]; then
      pass "the alarm notifies the given SNS topic"
    else
      fail "the alarm's actions are $actions"
    fi
  else
    fail "stage, flag on, smtp_out_log_group_name set: plan failed"
    sed 's/^/      /' "$work/net-on.log"
  fi

  if offline_plan net-prod -var environment=prod -var sinkhole=false "${net_vars[@]}"; then
    expect_actions "prod, flag off, smtp_out_log_group_name set: the ECR repository, the guard, the metric filter and the alarm" "$work/net-prod.plan" \
      "$m.aws_ecr_repository.this create
$m.terraform_data.prod_guard create
$net"
  else
    fail "prod, flag off, smtp_out_log_group_name set: plan failed"
    sed 's/^/      /' "$work/net-prod.log"
  fi

  if offline_plan prod -var environment=prod -var sinkhole=true; then
    fail "prod, flag on: the plan succeeded; it must fail"
  elif grep -q 'Resource precondition failed' "$work/prod.log" &&
    grep -q '^Sinkhole tier must never run in prod\.$' "$work/prod.log"; then
    pass "prod, flag on: the plan fails at the precondition: \"Sinkhole tier must never run in prod.\""
  else
    fail "prod, flag on: the plan failed, but not with the guard's message"
    sed 's/^/      /' "$work/prod.log"
  fi

  # A state as after phase 4 in stage: the repository, and the mode parameter
  # that an operator has since set to "accept".
  cp "$offline/existing-state.json" "$work/state.json"
  if offline_plan keep -refresh=false -state="$work/state.json" -var environment=stage -var sinkhole=true; then
    expect_actions "existing state, flag on: the operator's mode (accept) is kept, nothing replaced" "$work/keep.plan" \
      "$m.aws_ecr_repository.this no-op
$m.aws_ssm_parameter.mode[0] no-op
$m.terraform_data.prod_guard create
$(printf '%s\n' "$tier" | grep -v aws_ssm_parameter)"
  else
    fail "existing state, flag on: plan failed"
    sed 's/^/      /' "$work/keep.log"
  fi

  cp "$offline/existing-state.json" "$work/state.json"
  if offline_plan toggle-off -refresh=false -state="$work/state.json" -var environment=stage -var sinkhole=false; then
    expect_actions "existing state, flag turned off: the tier goes, the ECR repository stays" "$work/toggle-off.plan" \
      "$m.aws_ecr_repository.this no-op
$m.aws_ssm_parameter.mode[0] delete
$m.terraform_data.prod_guard create"
  else
    fail "existing state, flag turned off: plan failed"
    sed 's/^/      /' "$work/toggle-off.log"
  fi

  cp "$offline/existing-state.json" "$work/state.json"
  if offline_plan destroy -destroy -refresh=false -state="$work/state.json" -var environment=stage -var sinkhole=false; then
    fail "terraform destroy: planned the ECR repository's destruction; prevent_destroy must refuse"
  elif grep -q 'Instance cannot be destroyed' "$work/destroy.log" &&
    grep -q 'module.sinkhole.aws_ecr_repository.this has' "$work/destroy.log"; then
    pass "terraform destroy: refused by prevent_destroy on the ECR repository"
  else
    fail "terraform destroy: failed, but not because of prevent_destroy"
    sed 's/^/      /' "$work/destroy.log"
  fi
}

if $terraform_ready; then
  step "4. plans with the real hashicorp/aws provider against a fake STS (tests/offline_plan)"
  if command -v python3 >/dev/null 2>&1; then
    (offline_checks) | tee "$work/offline.out"
    grep -q 'FAIL:' "$work/offline.out" && failures+=("plans with the real provider (see FAIL lines above)")
  else
    banner "plans with the real provider" "python3 is not on PATH (it runs the fake STS and reads plan JSON)"
  fi
fi

# -- 5. Cloud Map scripts --------------------------------------------------------

step "5. Cloud Map drain/rebind scripts against a fake AWS CLI"
run "cloud-map scripts" bash "$tf_root/tests/cloud_map_scripts_test.sh"

# -- 6. Static checks -------------------------------------------------------------

# block FILE HEADER: the block starting with the line HEADER, to its closing brace.
block() {
  awk -v header="$2" '
    !inside && index($0, header) == 1 { inside = 1 }
    inside {
      print
      depth += gsub(/[{]/, "{") - gsub(/[}]/, "}")
      if (depth == 0) exit
    }
  ' "$1"
}

# has FILE HEADER REGEX LABEL
has() {
  if block "$1" "$2" | grep -Eq -- "$3"; then pass "$4"; else fail "$4"; fi
}

step "6. static checks (what a plan cannot show)"
main_tf="$tf_root/$module_rel/main.tf"
has "$main_tf" 'resource "aws_ecr_repository" "this" {' '^    prevent_destroy = true$' \
  'ECR repository: lifecycle { prevent_destroy = true }'
has "$main_tf" 'resource "aws_ssm_parameter" "mode" {' '^    ignore_changes = \[value\]$' \
  'SSM parameter: lifecycle { ignore_changes = [value] }'
has "$main_tf" 'resource "aws_ecs_task_definition" "this" {' '^    ignore_changes = \[container_definitions\]$' \
  'task definition: lifecycle { ignore_changes = [container_definitions] }'
has "$main_tf" 'resource "aws_ecs_service" "this" {' '^    ignore_changes = \[task_definition\]$' \
  'ECS service: lifecycle { ignore_changes = [task_definition] }'
has "$main_tf" 'resource "terraform_data" "prod_guard" {' '^      error_message = "Sinkhole tier must never run in prod\."$' \
  'prod guard (terraform_data): exact error message'
has "$main_tf" 'resource "aws_ecs_task_definition" "this" {' '^      error_message = "Sinkhole tier must never run in prod\."$' \
  'prod guard (task definition): exact error message'
if block "$main_tf" 'resource "terraform_data" "prod_guard" {' | grep -Eq '^  (count|for_each) '; then
  fail "prod guard: must not be gated (count/for_each)"
else
  pass "prod guard: not gated, planned in every environment"
fi

variables_tf="$tf_root/$module_rel/variables.tf"
outputs_tf="$tf_root/$module_rel/outputs.tf"
readme="$tf_root/$module_rel/README.md"
missing=""
while IFS= read -r name; do
  body=$(block "$variables_tf" "variable \"$name\" {")
  grep -Eq '^  description += ' <<<"$body" || missing="$missing $name(description)"
  grep -Eq '^  type += ' <<<"$body" || missing="$missing $name(type)"
done < <(sed -n 's/^variable "\([^"]*\)" {$/\1/p' "$variables_tf")
if [ -z "$missing" ]; then pass "every variable has a description and a type"; else fail "variables without:$missing"; fi

# The README's tables must list exactly the variables and outputs.
# readme_names Inputs|Outputs input|output: the names in that table.
readme_names() { sed -n "/^## $1\$/,/^## /p" "$readme" | sed -n "s/^| <a name=\"$2_\([a-z0-9_]*\)\"><\/a> .*/\1/p" | sort; }
if [ "$(readme_names Inputs input)" = "$(sed -n 's/^variable "\([^"]*\)" {$/\1/p' "$variables_tf" | sort)" ]; then
  pass "README inputs = variables.tf"
else
  fail "README inputs differ from variables.tf"
  diff <(sed -n 's/^variable "\([^"]*\)" {$/\1/p' "$variables_tf" | sort) <(readme_names Inputs input) | sed 's/^/      /'
fi
if [ "$(readme_names Outputs output)" = "$(sed -n 's/^output "\([^"]*\)" {$/\1/p' "$outputs_tf" | sort)" ]; then
  pass "README outputs = outputs.tf"
else
  fail "README outputs differ from outputs.tf"
  diff <(sed -n 's/^output "\([^"]*\)" {$/\1/p' "$outputs_tf" | sort) <(readme_names Outputs output) | sed 's/^/      /'
fi

# -- 7. shellcheck ------------------------------------------------------------------

step "7. shellcheck"
if command -v shellcheck >/dev/null 2>&1; then
  versions+=("shellcheck $(shellcheck --version | sed -n 's/^version: //p')")
  mapfile -t shell_files < <(find "$tf_root" -name '*.sh' -not -path '*/.terraform/*' | sort)
  run "shellcheck ${#shell_files[@]} scripts" shellcheck "${shell_files[@]}"
else
  printf '    shellcheck is not installed (Debian package "shellcheck"): not run\n'
fi

# -- 8. checkov ----------------------------------------------------------------------

# checkov pins old boto3/botocore: installed into the shared interpreter it
# breaks the AWS CLI and moto. It gets a virtualenv of its own instead.
checkov_venv=${SINKHOLE_CHECKOV_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/sinkhole-checkov-venv}
checkov_bin=""
if [ -n "${CHECKOV:-}" ] && [ -x "$CHECKOV" ]; then
  checkov_bin=$CHECKOV
elif command -v checkov >/dev/null 2>&1; then
  checkov_bin=$(command -v checkov)
elif [ -x "$checkov_venv/bin/checkov" ]; then
  checkov_bin="$checkov_venv/bin/checkov"
elif command -v python3 >/dev/null 2>&1; then
  step "8. installing checkov into $checkov_venv (pip, once)"
  if python3 -m venv "$checkov_venv" >"$work/checkov-install.log" 2>&1 &&
    "$checkov_venv/bin/pip" install -q checkov >>"$work/checkov-install.log" 2>&1; then
    checkov_bin="$checkov_venv/bin/checkov"
  else
    tail -5 "$work/checkov-install.log" | sed 's/^/    /'
  fi
fi

if [ -z "$checkov_bin" ]; then
  banner "checkov" "not on PATH and could not be installed with pip into $checkov_venv"
else
  checkov_version=$("$checkov_bin" --version 2>/dev/null)
  versions+=("checkov $checkov_version")
  step "8. checkov $checkov_version: checkov -d terraform/ --framework terraform --quiet --compact --skip-download"
  (cd "$repo_root" && run "checkov" "$checkov_bin" -d terraform/ --framework terraform --quiet --compact --skip-download) |
    tee "$work/checkov.out"
  grep -q 'FAIL: checkov' "$work/checkov.out" && failures+=("checkov")
fi

# -- Summary ---------------------------------------------------------------------------

printf '\n==> summary\n'
for v in "${versions[@]}"; do printf '    %s\n' "$v"; done
for s in "${skips[@]}"; do printf '    %s\n' "$s"; done
if [ "${#failures[@]}" -gt 0 ]; then
  printf '    FAILED: %s\n' "${failures[@]}"
  exit 1
fi
if [ "${#skips[@]}" -gt 0 ]; then
  printf '\n%s\n' "######################################################################"
  printf '##  PASSED, BUT %d PART(S) SKIPPED (see above): not everything was checked.\n' "${#skips[@]}"
  printf '%s\n' "######################################################################"
  if [ "${TERRAFORM_TESTS_REQUIRED:-0}" = 1 ]; then
    printf '    TERRAFORM_TESTS_REQUIRED=1: a skip is a failure.\n'
    exit 1
  fi
  exit 0
fi
printf '    all checks passed\n'
