-- The reconciler's own role: it creates and drops each grant's role.
-- Give it a password, or on Amazon RDS: GRANT rds_iam TO gitgrant;
CREATE ROLE gitgrant LOGIN CREATEROLE;
-- It ends the sessions of a grant's holder when the grant ends.
GRANT pg_signal_backend TO gitgrant;
-- Schema sales: what roles hand out there, with grant option (run as the schema's owner).
GRANT USAGE ON SCHEMA "sales" TO gitgrant WITH GRANT OPTION;
GRANT SELECT ON ALL TABLES IN SCHEMA "sales" TO gitgrant WITH GRANT OPTION;
-- And on tables made later (run as the role that makes them):
ALTER DEFAULT PRIVILEGES IN SCHEMA "sales" GRANT SELECT ON TABLES TO gitgrant WITH GRANT OPTION;
-- Roles handed out (PostgreSQL 16 and later need the admin option).
GRANT "reporting" TO gitgrant WITH ADMIN OPTION;