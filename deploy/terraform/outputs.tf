output "alb_dns_name" {
  description = "Point the domain's DNS at this (alias record)."
  value       = aws_lb.web.dns_name
}

output "target_group_arn" {
  description = "For the TargetGroupBinding of the web Service (AWS Load Balancer Controller)."
  value       = aws_lb_target_group.web.arn
}

output "database_endpoint" {
  description = "RDS Multi-AZ writer endpoint (DNS follows a failover)."
  value       = aws_db_instance.main.address
}

output "subject_keys_database_endpoint" {
  description = "The subject-key store (keystore.tf) for SUBJECT_KEYS_DATABASE_URL."
  value       = aws_db_instance.keys.address
}

output "database_replica_endpoint" {
  description = "Read replica for DATABASE_REPLICA_URL."
  value       = aws_db_instance.replica.address
}

output "redis_primary_endpoint" {
  description = "ElastiCache primary endpoint (follows an automatic failover)."
  value       = aws_elasticache_replication_group.main.primary_endpoint_address
}

output "service_role_arns" {
  description = "IRSA role per service account (eks.amazonaws.com/role-arn annotations in deploy/k8s)."
  value       = { for name, role in aws_iam_role.service : name => role.arn }
}

output "audit_bucket" {
  description = "AUDIT_ARCHIVE_S3_BUCKET."
  value       = aws_s3_bucket.audit.bucket
}
