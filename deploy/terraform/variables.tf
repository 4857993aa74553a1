variable "region" {
  description = "AWS region. af-south-1 (Cape Town) keeps personal information in South Africa (POPIA s72)."
  type        = string
  default     = "af-south-1"
}

variable "environment" {
  description = "Environment name, part of every resource name."
  type        = string
  default     = "production"
}

variable "availability_zones" {
  description = "At least two availability zones; three give Redis, the database and the web tier a quorum-safe spread."
  type        = list(string)
  default     = ["af-south-1a", "af-south-1b", "af-south-1c"]
  validation {
    condition     = length(var.availability_zones) >= 2
    error_message = "Multi-AZ needs at least two availability zones."
  }
}

variable "vpc_cidr" {
  description = "The VPC's address range; subnets are carved from it per zone."
  type        = string
  default     = "10.40.0.0/16"
}

variable "domain_name" {
  description = "The public host name served by the ALB."
  type        = string
  default     = "fintech.example"
}

variable "certificate_arn" {
  description = "ACM certificate for domain_name (issued outside Terraform: DNS validation)."
  type        = string
}

variable "rotation_lambda_arn" {
  description = "The secret-rotation Lambda (fintech-secret-rotator, built from the app's secret_rotation package; for the database user, AWS's SecretsManagerRDSPostgreSQLRotationSingleUser)."
  type        = string
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.r6g.large"
}

variable "keys_db_instance_class" {
  description = "RDS instance class of the subject-key store (keystore.tf): one small row per data subject."
  type        = string
  default     = "db.t4g.medium"
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.r6g.large"
}

variable "eks_version" {
  description = "Kubernetes version of the EKS control plane."
  type        = string
  default     = "1.31"
}

variable "node_instance_types" {
  description = "EC2 instance types for the EKS managed node group."
  type        = list(string)
  default     = ["m6g.large"]
}

variable "admin_cidrs" {
  description = "Networks allowed to reach the private EKS API endpoint (the operations VPN)."
  type        = list(string)
  default     = ["10.40.0.0/16"]
}

variable "kubernetes_namespace" {
  description = "The namespace of deploy/k8s (IRSA trust is scoped to its service accounts)."
  type        = string
  default     = "fintech"
}
