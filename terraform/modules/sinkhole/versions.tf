terraform {
  # 1.9 is the first release whose variable validations may refer to other
  # variables (memory_reservation <= memory). Tested with 1.11.4.
  required_version = ">= 1.9.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Tested with 5.100.0. 6.x renames data.aws_region's `name` and changes
      # other defaults: widen this only after testing against it.
      version = ">= 5.0.0, < 6.0.0"
    }
  }
}
