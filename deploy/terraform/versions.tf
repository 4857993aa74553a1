# AWS, multi-AZ, for the fintech platform (SPEC C9, issue 18; docs/ARCHITECTURE.md, "Availability").
# `make ci` runs `terraform fmt -check`, `terraform validate` (offline, from the provider mirror)
# and checkov with zero failed checks; every skipped check is justified where it is skipped.
terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }
  # State in S3 with locking: configured per environment with `terraform init -backend-config`.
  backend "s3" {}
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      Project     = "fintech"
      Environment = var.environment
      ManagedBy   = "terraform"
      DataClass   = "popia-personal-information"
    }
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
