# The database: Amazon RDS for PostgreSQL, Multi-AZ (one synchronous standby in another zone).
#
# Why RDS Multi-AZ and not the Patroni topology on EC2 (deploy/patroni, proven by make drill-db):
# on AWS the managed service gives the same guarantees we need (synchronous replication, so RPO
# 0; automatic failover; point-in-time restore for 35 days; encrypted snapshots) without us
# running etcd, Patroni and HAProxy on EC2, patching them and paging someone when they break. The
# price is a slower failover: AWS advertises 60-120 s where Patroni with its minimum TTL measured
# ~20 s. The app is built for either: connect and statement timeouts, 503 + Retry-After while the
# database is away, idempotent requests replayed once (docs/ARCHITECTURE.md, "Availability").
# The Patroni files remain the deployment for an environment without a managed PostgreSQL.
resource "aws_db_subnet_group" "main" {
  name       = local.name
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_security_group" "database" {
  name        = "${local.name}-database"
  description = "PostgreSQL from the EKS nodes only"
  vpc_id      = aws_vpc.main.id
  ingress {
    description     = "PostgreSQL from the application pods"
    from_port       = 5432
    to_port         = 5432
    protocol        = "tcp"
    security_groups = [aws_eks_cluster.main.vpc_config[0].cluster_security_group_id]
  }
}

resource "aws_db_parameter_group" "postgres" {
  name   = "${local.name}-postgres15"
  family = "postgres15"
  # TLS only; log connections, disconnections and slow statements (no parameters: no PI in logs).
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_connections"
    value = "1"
  }
  parameter {
    name  = "log_disconnections"
    value = "1"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
  parameter {
    name  = "log_parameter_max_length"
    value = "0"
  }
}

resource "aws_db_instance" "main" {
  identifier                            = local.name
  engine                                = "postgres"
  engine_version                        = "15"
  instance_class                        = var.db_instance_class
  allocated_storage                     = 100
  max_allocated_storage                 = 1000
  storage_type                          = "gp3"
  storage_encrypted                     = true
  kms_key_id                            = aws_kms_key.this["database"].arn
  db_name                               = "fintech"
  username                              = "fintech_admin"
  manage_master_user_password           = true
  master_user_secret_kms_key_id         = aws_kms_key.this["secrets"].arn
  iam_database_authentication_enabled   = true
  multi_az                              = true
  db_subnet_group_name                  = aws_db_subnet_group.main.name
  vpc_security_group_ids                = [aws_security_group.database.id]
  parameter_group_name                  = aws_db_parameter_group.postgres.name
  publicly_accessible                   = false
  backup_retention_period               = 35
  backup_window                         = "00:30-01:30"
  maintenance_window                    = "sun:02:00-sun:03:00"
  copy_tags_to_snapshot                 = true
  deletion_protection                   = true
  skip_final_snapshot                   = false
  final_snapshot_identifier             = "${local.name}-final"
  auto_minor_version_upgrade            = true
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.this["database"].arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 30
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
}

# A read replica for reports and exports (DATABASE_REPLICA_URL, fintech/db_router.py).
resource "aws_db_instance" "replica" {
  identifier                            = "${local.name}-replica"
  replicate_source_db                   = aws_db_instance.main.identifier
  instance_class                        = var.db_instance_class
  storage_encrypted                     = true
  kms_key_id                            = aws_kms_key.this["database"].arn
  iam_database_authentication_enabled   = true
  multi_az                              = true
  vpc_security_group_ids                = [aws_security_group.database.id]
  parameter_group_name                  = aws_db_parameter_group.postgres.name
  publicly_accessible                   = false
  copy_tags_to_snapshot                 = true
  deletion_protection                   = true
  skip_final_snapshot                   = true
  auto_minor_version_upgrade            = true
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.this["database"].arn
  performance_insights_retention_period = 7
  monitoring_interval                   = 30
  monitoring_role_arn                   = aws_iam_role.rds_monitoring.arn
  enabled_cloudwatch_logs_exports       = ["postgresql", "upgrade"]
}

resource "aws_iam_role" "rds_monitoring" {
  name = "${local.name}-rds-monitoring"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}
