# Inputs that must be refused at plan time, before anything is touched.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  environment              = "stage"
  sinkhole                 = true
  vpc_id                   = "vpc-0123456789abcdef0"
  subnet_ids               = ["subnet-0123456789abcdef0"]
  vpc_cidr                 = "10.20.0.0/16"
  ecs_cluster_arn          = "arn:aws:ecs:eu-west-2:123456789012:cluster/cabal-mail"
  cloud_map_namespace_id   = "ns-abcdefghijklmnop"
  cloud_map_namespace_name = "cabal.internal"
  image_tag                = "0123456789abcdef0123456789abcdef01234567"
}

run "unknown_environment_is_refused" {
  command = plan
  variables {
    environment = "qa"
  }
  expect_failures = [var.environment]
}

run "unknown_initial_mode_is_refused" {
  command = plan
  variables {
    initial_mode = "Accept"
  }
  expect_failures = [var.initial_mode]
}

run "every_mode_name_is_accepted_as_initial_mode" {
  command = plan
  variables {
    initial_mode = "accept-log"
  }
  assert {
    condition     = nonsensitive(aws_ssm_parameter.mode[0].value) == "accept-log"
    error_message = "accept-log is a mode name."
  }
}

run "memory_reservation_above_the_hard_limit_is_refused" {
  command = plan
  variables {
    memory_reservation = 256
    memory             = 128
  }
  expect_failures = [var.memory_reservation]
}

run "zero_memory_reservation_is_refused" {
  command = plan
  variables {
    memory_reservation = 0
  }
  expect_failures = [var.memory_reservation]
}

run "negative_memory_is_refused" {
  command = plan
  variables {
    memory             = -128
    memory_reservation = 64
  }
  # Terraform skips the reservation's cross-check once var.memory is invalid.
  expect_failures = [var.memory]
}

run "fractional_memory_is_refused" {
  command = plan
  variables {
    memory = 128.5
  }
  expect_failures = [var.memory]
}

run "zero_cache_ttl_is_refused" {
  command = plan
  variables {
    mode_cache_ttl_seconds = 0
  }
  expect_failures = [var.mode_cache_ttl_seconds]
}

run "custom_cache_ttl_reaches_the_container" {
  command = plan
  variables {
    mode_cache_ttl_seconds = 5
  }
  assert {
    condition     = { for e in jsondecode(aws_ecs_task_definition.this[0].container_definitions)[0].environment : e.name => e.value }["SINKHOLE_MODE_CACHE_TTL"] == "5s"
    error_message = "SINKHOLE_MODE_CACHE_TTL must be <seconds>s."
  }
}

run "root_user_is_refused" {
  command = plan
  variables {
    container_user = "0:0"
  }
  expect_failures = [var.container_user]
}

run "uid_zero_without_gid_is_refused" {
  command = plan
  variables {
    container_user = "0"
  }
  expect_failures = [var.container_user]
}

run "named_user_is_refused" {
  command = plan
  variables {
    container_user = "root"
  }
  expect_failures = [var.container_user]
}

run "unsupported_log_retention_is_refused" {
  command = plan
  variables {
    log_retention_days = 10
  }
  expect_failures = [var.log_retention_days]
}

run "open_vpc_cidr_is_refused" {
  command = plan
  variables {
    vpc_cidr = "0.0.0.0/0"
  }
  expect_failures = [var.vpc_cidr]
}

run "reserved_parameter_name_is_refused" {
  command = plan
  variables {
    parameter_name = "/aws/sinkhole_mode"
  }
  expect_failures = [var.parameter_name]
}

run "double_slash_parameter_name_is_refused" {
  command = plan
  variables {
    parameter_name = "//cabal/sinkhole_mode"
  }
  expect_failures = [var.parameter_name]
}

run "bad_image_tag_is_refused" {
  command = plan
  variables {
    image_tag = "-latest"
  }
  expect_failures = [var.image_tag]
}

run "missing_image_tag_with_the_flag_on_fails_the_plan" {
  command = plan
  variables {
    image_tag = null
  }
  expect_failures = [aws_ecs_task_definition.this]
}

run "empty_subnet_list_is_refused" {
  command = plan
  variables {
    subnet_ids = []
  }
  expect_failures = [var.subnet_ids]
}

run "container_port_out_of_range_is_refused" {
  command = plan
  variables {
    container_port = 0
  }
  expect_failures = [var.container_port]
}
