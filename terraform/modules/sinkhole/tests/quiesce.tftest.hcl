# var.quiesced scales the service to 0 and back; the Cloud Map service stays.

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

run "quiesced_gives_desired_count_0" {
  command = plan

  variables {
    quiesced = true
  }

  assert {
    condition     = aws_ecs_service.this[0].desired_count == 0
    error_message = "Quiesced must give desired_count 0."
  }

  assert {
    condition     = length(aws_service_discovery_service.this) == 1 && output.cloud_map_dns_name == "sinkhole.cabal.internal"
    error_message = "The Cloud Map service must stay while quiesced."
  }
}

run "not_quiesced_gives_desired_count_1" {
  command = plan

  variables {
    quiesced = false
  }

  assert {
    condition     = aws_ecs_service.this[0].desired_count == 1
    error_message = "Out of quiesce, desired_count must be 1."
  }
}
