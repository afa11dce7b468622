# Values the mocked AWS provider returns to every test (mock_provider "aws"
# { source = "./tests/mocks" }). The data sources are read during plan, so
# these are the account, region and partition every ARN in the plan is built
# from. Resource defaults matter only if a run applies (none does).

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
    arn        = "arn:aws:iam::123456789012:user/terraform-test"
    user_id    = "AIDAEXAMPLEUSERID0001"
  }
}

mock_data "aws_region" {
  defaults = {
    name        = "eu-west-2"
    id          = "eu-west-2"
    description = "Europe (London)"
    endpoint    = "ec2.eu-west-2.amazonaws.com"
  }
}

mock_data "aws_partition" {
  defaults = {
    id                 = "aws"
    partition          = "aws"
    dns_suffix         = "amazonaws.com"
    reverse_dns_prefix = "com.amazonaws"
  }
}

mock_resource "aws_ecr_repository" {
  defaults = {
    arn            = "arn:aws:ecr:eu-west-2:123456789012:repository/cabal-sinkhole"
    registry_id    = "123456789012"
    repository_url = "123456789012.dkr.ecr.eu-west-2.amazonaws.com/cabal-sinkhole"
  }
}

mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::123456789012:role/cabal-sinkhole-mock"
  }
}

mock_resource "aws_ecs_task_definition" {
  defaults = {
    arn = "arn:aws:ecs:eu-west-2:123456789012:task-definition/cabal-sinkhole:1"
  }
}

mock_resource "aws_service_discovery_service" {
  defaults = {
    arn = "arn:aws:servicediscovery:eu-west-2:123456789012:service/srv-abcdefghijklmnop"
    id  = "srv-abcdefghijklmnop"
  }
}

mock_resource "aws_security_group" {
  defaults = {
    id  = "sg-0123456789abcdef0"
    arn = "arn:aws:ec2:eu-west-2:123456789012:security-group/sg-0123456789abcdef0"
  }
}
