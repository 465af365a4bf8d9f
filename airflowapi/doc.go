// Package airflowapi is the sweeper's read-only client of one Airflow's public
// REST API, used by the try check (the sweeper ends a KPO pod whose Airflow
// try is over). It asks, in batches, for the task instances of the tries the
// sweeper tracks, and whether a DAG exists.
//
// Airflow 3 is API v2 with a JWT from POST /auth/token; Airflow 2.x is API v1
// with HTTP basic auth. The endpoints and fields are those of the OpenAPI
// specs shipped in the Airflow packages (airflow/api_fastapi/core_api/openapi/
// v2-rest-api-generated.yaml in 3.3.2, airflow/api_connexion/openapi/v1.yaml
// in 2.11.2): see tasks.go.
//
// client.go holds the configuration and the HTTP round trip (timeouts,
// bounded bodies, latency metric); auth.go the credentials and the token;
// tasks.go the batched, paginated task-instance list and its completeness;
// errors.go the error kinds the caller counts. Every failure is an error: the
// caller must never read an error as "the try is over".
package airflowapi
