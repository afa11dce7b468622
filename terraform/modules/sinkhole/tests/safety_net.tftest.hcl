# The cleanup safety net: a metric filter and an alarm on smtp-out's log group
# for mail queued to sinkhole.test. Off without smtp_out_log_group_name; on
# with it, whatever var.sinkhole says (prod included). Every run is a plan.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment              = "stage"
  vpc_id                   = "vpc-0123456789abcdef0"
  subnet_ids               = ["subnet-0123456789abcdef0"]
  vpc_cidr                 = "10.20.0.0/16"
  ecs_cluster_arn          = "arn:aws:ecs:eu-west-2:123456789012:cluster/cabal-mail"
  cloud_map_namespace_id   = "ns-abcdefghijklmnop"
  cloud_map_namespace_name = "cabal.internal"
  image_tag                = "0123456789abcdef0123456789abcdef01234567"
}

run "off_by_default_no_filter_no_alarm" {
  command = plan

  variables {
    sinkhole = true
  }

  assert {
    condition     = var.smtp_out_log_group_name == null && length(var.queued_alarm_actions) == 0
    error_message = "smtp_out_log_group_name must default to null and queued_alarm_actions to []."
  }

  assert {
    condition     = length(aws_cloudwatch_log_metric_filter.sinkhole_test_queued) == 0 && length(aws_cloudwatch_metric_alarm.sinkhole_test_queued) == 0
    error_message = "Without smtp_out_log_group_name, neither the metric filter nor the alarm may be planned."
  }

  assert {
    condition     = output.queued_alarm_arn == null && output.queued_alarm_name == null
    error_message = "Without smtp_out_log_group_name, the alarm's outputs must be null."
  }
}

run "on_with_a_log_group" {
  command = plan

  variables {
    smtp_out_log_group_name = "/ecs/cabal-smtp-out"
    queued_alarm_actions    = ["arn:aws:sns:eu-west-2:123456789012:cabal-alarms"]
  }

  assert {
    condition     = length(aws_cloudwatch_log_metric_filter.sinkhole_test_queued) == 1 && length(aws_cloudwatch_metric_alarm.sinkhole_test_queued) == 1
    error_message = "With a log group, one metric filter and one alarm must be planned."
  }

  assert {
    condition     = length(aws_ecs_service.this) == 0 && length(aws_cloudwatch_log_group.this) == 0
    error_message = "The safety net must not bring the tier with it (var.sinkhole is false here)."
  }

  # The filter: exactly the runbook's pattern, on the given log group.

  assert {
    condition     = aws_cloudwatch_log_metric_filter.sinkhole_test_queued[0].pattern == "%@sinkhole\\.test.*stat=[Dq]%"
    error_message = "The filter pattern must be exactly %@sinkhole\\.test.*stat=[Dq]% (docs/testing/queue-persistence.md)."
  }

  assert {
    condition     = aws_cloudwatch_log_metric_filter.sinkhole_test_queued[0].log_group_name == "/ecs/cabal-smtp-out"
    error_message = "The filter must be on the given log group."
  }

  assert {
    condition     = aws_cloudwatch_log_metric_filter.sinkhole_test_queued[0].name == "sinkhole-test-queued"
    error_message = "The filter must be called sinkhole-test-queued, as in the runbook."
  }

  assert {
    condition = (
      length(aws_cloudwatch_log_metric_filter.sinkhole_test_queued[0].metric_transformation) == 1
      && aws_cloudwatch_log_metric_filter.sinkhole_test_queued[0].metric_transformation[0].name == "SinkholeTestQueued"
      && aws_cloudwatch_log_metric_filter.sinkhole_test_queued[0].metric_transformation[0].namespace == "Cabalmail/SmtpOut"
      && aws_cloudwatch_log_metric_filter.sinkhole_test_queued[0].metric_transformation[0].value == "1"
      && aws_cloudwatch_log_metric_filter.sinkhole_test_queued[0].metric_transformation[0].default_value == "0"
    )
    error_message = "The filter must publish Cabalmail/SmtpOut SinkholeTestQueued: 1 per matching line, 0 otherwise."
  }

  # The alarm: one queued line in 5 minutes, silence is OK.

  assert {
    condition     = aws_cloudwatch_metric_alarm.sinkhole_test_queued[0].alarm_name == "stage-smtp-out-sinkhole-test-queued"
    error_message = "The alarm must be called ENVIRONMENT-smtp-out-sinkhole-test-queued."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.sinkhole_test_queued[0].namespace == "Cabalmail/SmtpOut"
      && aws_cloudwatch_metric_alarm.sinkhole_test_queued[0].metric_name == "SinkholeTestQueued"
      && aws_cloudwatch_metric_alarm.sinkhole_test_queued[0].statistic == "Sum"
    )
    error_message = "The alarm must watch the Sum of the filter's metric."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.sinkhole_test_queued[0].period == 300
      && aws_cloudwatch_metric_alarm.sinkhole_test_queued[0].evaluation_periods == 1
      && aws_cloudwatch_metric_alarm.sinkhole_test_queued[0].threshold == 1
      && aws_cloudwatch_metric_alarm.sinkhole_test_queued[0].comparison_operator == "GreaterThanOrEqualToThreshold"
    )
    error_message = "The alarm must fire on 1 or more in one period of 300 s."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.sinkhole_test_queued[0].treat_missing_data == "notBreaching"
    error_message = "Missing data (no smtp-out line at all) must not breach."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.sinkhole_test_queued[0].alarm_actions == toset(["arn:aws:sns:eu-west-2:123456789012:cabal-alarms"])
    error_message = "The alarm must notify exactly queued_alarm_actions."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.sinkhole_test_queued[0].tags["cabal:tier"] == "sinkhole"
    error_message = "The alarm must carry the module's tags."
  }

  assert {
    condition     = output.queued_alarm_name == "stage-smtp-out-sinkhole-test-queued"
    error_message = "The queued_alarm_name output must name the alarm."
  }
}

run "on_without_actions_the_alarm_has_none" {
  command = plan

  variables {
    smtp_out_log_group_name = "/ecs/cabal-smtp-out"
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.sinkhole_test_queued) == 1 && length(aws_cloudwatch_metric_alarm.sinkhole_test_queued[0].alarm_actions) == 0
    error_message = "Without queued_alarm_actions the alarm is planned, with no action."
  }
}

run "on_with_the_tier" {
  command = plan

  variables {
    sinkhole                = true
    smtp_out_log_group_name = "/ecs/cabal-smtp-out"
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.sinkhole_test_queued) == 1 && length(aws_ecs_service.this) == 1
    error_message = "The safety net and the tier must be planned together."
  }

  assert {
    condition     = aws_cloudwatch_log_metric_filter.sinkhole_test_queued[0].log_group_name != aws_cloudwatch_log_group.this[0].name
    error_message = "The filter watches smtp-out's log group, not sinkhole's own."
  }
}

run "on_in_prod_without_the_tier" {
  command = plan

  variables {
    environment             = "prod"
    sinkhole                = false
    smtp_out_log_group_name = "/ecs/cabal-smtp-out"
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.sinkhole_test_queued) == 1 && length(aws_ecs_task_definition.this) == 0
    error_message = "In prod the safety net may be planned; the tier may not."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.sinkhole_test_queued[0].alarm_name == "prod-smtp-out-sinkhole-test-queued"
    error_message = "The alarm's name must carry the environment."
  }
}

run "custom_metric_reaches_the_filter_and_the_alarm" {
  command = plan

  variables {
    smtp_out_log_group_name = "/ecs/cabal-smtp-out"
    queued_metric_namespace = "Cabal/Stage/SmtpOut"
    queued_metric_name      = "QueuedForSinkhole"
  }

  assert {
    condition = (
      aws_cloudwatch_log_metric_filter.sinkhole_test_queued[0].metric_transformation[0].namespace == "Cabal/Stage/SmtpOut"
      && aws_cloudwatch_log_metric_filter.sinkhole_test_queued[0].metric_transformation[0].name == "QueuedForSinkhole"
      && aws_cloudwatch_metric_alarm.sinkhole_test_queued[0].namespace == "Cabal/Stage/SmtpOut"
      && aws_cloudwatch_metric_alarm.sinkhole_test_queued[0].metric_name == "QueuedForSinkhole"
    )
    error_message = "The filter must publish, and the alarm watch, the given namespace and metric name."
  }
}

# -- Refused inputs ---------------------------------------------------------------

run "log_group_arn_is_refused" {
  command = plan
  variables {
    smtp_out_log_group_name = "arn:aws:logs:eu-west-2:123456789012:log-group:/ecs/cabal-smtp-out"
  }
  expect_failures = [var.smtp_out_log_group_name]
}

run "empty_log_group_name_is_refused" {
  command = plan
  variables {
    smtp_out_log_group_name = ""
  }
  expect_failures = [var.smtp_out_log_group_name]
}

run "alarm_action_that_is_not_an_arn_is_refused" {
  command = plan
  variables {
    smtp_out_log_group_name = "/ecs/cabal-smtp-out"
    queued_alarm_actions    = ["cabal-alarms"]
  }
  expect_failures = [var.queued_alarm_actions]
}

run "six_alarm_actions_are_refused" {
  command = plan
  variables {
    smtp_out_log_group_name = "/ecs/cabal-smtp-out"
    queued_alarm_actions    = [for i in range(6) : "arn:aws:sns:eu-west-2:123456789012:topic-${i}"]
  }
  expect_failures = [var.queued_alarm_actions]
}

run "alarm_actions_without_a_log_group_are_refused" {
  command = plan
  variables {
    queued_alarm_actions = ["arn:aws:sns:eu-west-2:123456789012:cabal-alarms"]
  }
  expect_failures = [var.queued_alarm_actions]
}

run "aws_namespace_is_refused" {
  command = plan
  variables {
    smtp_out_log_group_name = "/ecs/cabal-smtp-out"
    queued_metric_namespace = "AWS/Logs"
  }
  expect_failures = [var.queued_metric_namespace]
}

run "namespace_with_a_colon_is_refused" {
  command = plan
  variables {
    smtp_out_log_group_name = "/ecs/cabal-smtp-out"
    queued_metric_namespace = "Cabalmail:SmtpOut"
  }
  expect_failures = [var.queued_metric_namespace]
}

run "empty_metric_name_is_refused" {
  command = plan
  variables {
    smtp_out_log_group_name = "/ecs/cabal-smtp-out"
    queued_metric_name      = ""
  }
  expect_failures = [var.queued_metric_name]
}
