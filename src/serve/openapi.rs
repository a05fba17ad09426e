//! The OpenAPI 3.1 document of `cardseg serve` (`GET /openapi.json`): every route, its
//! request body, its answers and its errors, written here and nowhere else. It is the same
//! for every model (a customer's keys are the model's feature names, which `GET /v1/model`
//! lists). Tests check that every route of [`super::metrics::ROUTES`] (the router's list) is in it and answers
//! as it says, and tests/python/test_contract.py checks the running server against it.

use std::sync::OnceLock;

use serde_json::{json, Value};

use super::MAX_CUSTOMERS_PER_REQUEST;

/// The document, built once.
pub fn document_bytes() -> &'static [u8] {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut out = serde_json::to_vec_pretty(&document()).unwrap_or_default();
        out.push(b'\n');
        out
    })
}

/// A reference to a shared response.
fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

/// A JSON answer with `schema` and the request-id header.
fn answer(description: &str, schema: Value) -> Value {
    json!({
        "description": description,
        "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
        "content": {"application/json": {"schema": schema}}
    })
}

/// The OpenAPI 3.1 document.
pub fn document() -> Value {
    let bearer = json!([{"bearer": []}]);
    let request_id = json!({"$ref": "#/components/parameters/X-Request-Id"});
    let probe = |what: &str, states: Value| {
        json!({
            "type": "object",
            "required": ["status"],
            "additionalProperties": false,
            "properties": {"status": {"type": "string", "enum": states, "description": what}}
        })
    };
    let paths = json!({
        "/v1/score": {
            "post": {
                "operationId": "score",
                "summary": "Segments of customers: JSON (one customer or an array) or CSV in",
                "description": "Every customer gets exactly the segment `cardseg predict` gives. A JSON customer is an object whose keys are the model's feature names (see GET /v1/model) and its id column; values are numbers or numeric strings; other keys are ignored. A CSV body has a header row (gzip allowed).",
                "security": bearer,
                "parameters": [request_id],
                "requestBody": {
                    "required": true,
                    "content": {
                        "application/json": {"schema": {"oneOf": [
                            {"$ref": "#/components/schemas/Customer"},
                            {"type": "array", "maxItems": MAX_CUSTOMERS_PER_REQUEST, "items": {"$ref": "#/components/schemas/Customer"}}
                        ]}},
                        "text/csv": {"schema": {"type": "string", "description": "A header row naming the model's features (and its id column), then one customer per row; may be gzip-compressed."}}
                    }
                },
                "responses": {
                    "200": {
                        "description": "The segments: a JSON answer for a JSON body, CSV (the columns of predict's labels.csv plus the distances) for a CSV body.",
                        "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ScoreAnswer"}},
                            "text/csv": {"schema": {"type": "string"}}
                        }
                    },
                    "400": r("BadRequest"),
                    "401": r("Unauthorized"),
                    "405": r("MethodNotAllowed"),
                    "408": r("Timeout"),
                    "411": r("LengthRequired"),
                    "413": r("TooLarge"),
                    "415": r("UnsupportedMediaType"),
                    "500": r("Internal"),
                    "503": r("Unavailable")
                }
            }
        },
        "/v1/model": {
            "get": {
                "operationId": "model",
                "summary": "The model served: features, segments, centroids, checksum, limits",
                "security": bearer,
                "parameters": [request_id],
                "responses": {
                    "200": answer("The model.", json!({"$ref": "#/components/schemas/ModelInfo"})),
                    "401": r("Unauthorized"),
                    "405": r("MethodNotAllowed"),
                    "500": r("Internal")
                }
            }
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Up, and which model it serves (no token needed)",
                "security": [],
                "parameters": [request_id],
                "responses": {
                    "200": answer("Up.", json!({
                        "type": "object",
                        "required": ["model_checksum", "status"],
                        "additionalProperties": false,
                        "properties": {
                            "model_checksum": {"$ref": "#/components/schemas/Checksum"},
                            "status": {"type": "string", "enum": ["ok"]}
                        }
                    })),
                    "405": r("MethodNotAllowed"),
                    "500": r("Internal")
                }
            }
        },
        "/livez": {
            "get": {
                "operationId": "livez",
                "summary": "Liveness: the process answers (no token needed, no model details)",
                "security": [],
                "parameters": [request_id],
                "responses": {
                    "200": answer("Alive.", probe("always ok", json!(["ok"]))),
                    "405": r("MethodNotAllowed"),
                    "500": r("Internal")
                }
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "Readiness: 200 while taking new work, 503 from SIGTERM on (no token needed, no model details)",
                "security": [],
                "parameters": [request_id],
                "responses": {
                    "200": answer("Ready.", probe("ready", json!(["ready"]))),
                    "503": answer("Draining: take this server out of rotation.", probe("draining", json!(["draining"]))),
                    "405": r("MethodNotAllowed"),
                    "500": r("Internal")
                }
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (text format 0.0.4)",
                "description": "Needs the scoring token, a metrics token (--metrics-token-file) or none (--public-metrics).",
                "security": [{"bearer": []}, {}],
                "parameters": [request_id],
                "responses": {
                    "200": {
                        "description": "The metrics.",
                        "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
                        "content": {"text/plain; version=0.0.4; charset=utf-8": {"schema": {"type": "string"}}}
                    },
                    "401": r("Unauthorized"),
                    "405": r("MethodNotAllowed"),
                    "500": r("Internal")
                }
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document (no token needed)",
                "security": [],
                "parameters": [request_id],
                "responses": {
                    "200": answer("The OpenAPI 3.1 document.", json!({"type": "object"})),
                    "405": r("MethodNotAllowed"),
                    "500": r("Internal")
                }
            }
        }
    });
    let error =
        |description: &str| answer(description, json!({"$ref": "#/components/schemas/Error"}));
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "cardseg serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Customer segments from a saved cardseg model. Every answer carries X-Request-Id (the request's own, if it sent a sensible one: 1-128 letters, digits or -_.:/+=@). Errors are JSON {\"error\": \"...\"}, with \"index\" and \"field\" when one customer's field was at fault. Every GET route also answers HEAD (the same status and headers, no body). A path not listed here gets 404 (components/responses/NotFound). Any request whose head is not HTTP/1.1 gets 400, one with a request line over 65,534 bytes 414, one with more than 100 headers or a head over about 400 KiB 431 (each closes the connection)."
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "A token from --token-env or --token-file (not needed when the server runs without one)."}},
            "parameters": {
                "X-Request-Id": {"name": "X-Request-Id", "in": "header", "required": false, "description": "The caller's id for this request, echoed back and logged.", "schema": {"type": "string"}}
            },
            "headers": {
                "X-Request-Id": {"description": "The request's id (the caller's, or one the server made).", "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:/+=@-]{1,128}$"}}
            },
            "responses": {
                "BadRequest": error("The body is not valid JSON or CSV, a field is not a number, or a column is missing; or the request head is not HTTP/1.1."),
                "NotFound": error("No such path; the answer lists the routes."),
                "UriTooLong": error("The request line is longer than 65,534 bytes."),
                "HeadTooLarge": error("The request head has more than 100 header lines or is larger than about 400 KiB."),
                "Unauthorized": {
                    "description": "Missing or wrong token.",
                    "headers": {
                        "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"},
                        "WWW-Authenticate": {"schema": {"type": "string", "enum": ["Bearer"]}}
                    },
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                },
                "MethodNotAllowed": error("Another method than the route's."),
                "Timeout": error("The body did not arrive in time."),
                "LengthRequired": error("The request has neither Content-Length nor Transfer-Encoding: chunked, so its body cannot be read."),
                "TooLarge": error("The body is larger than --max-body (or the memory budget), or holds more customers than allowed."),
                "UnsupportedMediaType": error("A Content-Type other than application/json or text/csv."),
                "Internal": error("An internal error; the server is still running."),
                "Unavailable": error("The request memory budget stayed full; retry later.")
            },
            "schemas": {
                "Checksum": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"},
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "additionalProperties": false,
                    "properties": {
                        "error": {"type": "string", "minLength": 1},
                        "index": {"type": "integer", "minimum": 0, "description": "The customer at fault in a JSON array."},
                        "field": {"type": "string", "description": "The field at fault."}
                    }
                },
                "Customer": {
                    "type": "object",
                    "description": "One customer: the model's features (numbers or numeric strings; a missing one is filled with the model's fill value and listed in \"imputed\") and its id column.",
                    "additionalProperties": {"type": ["number", "string", "null", "boolean", "object", "array"]}
                }
            }
        }
    });
    let extra = model_schemas();
    if let (Some(all), Some(more)) = (
        doc["components"]["schemas"].as_object_mut(),
        extra.as_object(),
    ) {
        all.extend(more.clone());
    }
    // A request head that cannot be parsed is refused before any route is known, so
    // every operation may get these.
    if let Some(paths) = doc["paths"].as_object_mut() {
        for op in paths.values_mut().filter_map(Value::as_object_mut) {
            for item in op.values_mut() {
                if let Some(responses) = item["responses"].as_object_mut() {
                    responses.entry("400").or_insert_with(|| r("BadRequest"));
                    responses.insert("414".into(), r("UriTooLong"));
                    responses.insert("431".into(), r("HeadTooLarge"));
                }
            }
        }
    }
    doc
}

/// The schemas of the scoring answer and of the model answer.
fn model_schemas() -> Value {
    let number_or_null = json!({"type": ["number", "null"]});
    let segment = json!({
        "type": "object",
        "required": ["action", "centroid", "centroid_scaled", "customers", "id", "name", "rationale", "share"],
        "properties": {
            "action": {"type": "string"},
            "centroid": {"type": "object", "additionalProperties": number_or_null},
            "centroid_scaled": {"type": "object", "additionalProperties": number_or_null},
            "customers": {"type": "integer"},
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "rationale": {"type": "string"},
            "share": {"type": "number"}
        }
    });
    json!({
                "ScoreAnswer": {
                    "type": "object",
                    "required": ["model_checksum", "customers", "scored", "results"],
                    "additionalProperties": false,
                    "properties": {
                        "model_checksum": {"$ref": "#/components/schemas/Checksum"},
                        "customers": {"type": "integer", "minimum": 0},
                        "scored": {"type": "integer", "minimum": 0},
                        "results": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}}
                    }
                },
                "Result": {
                    "type": "object",
                    "required": ["index", "id", "segment", "segment_name", "distance", "second_distance", "distance_percentile", "outlier"],
                    "additionalProperties": false,
                    "properties": {
                        "index": {"type": "integer", "minimum": 0},
                        "id": {"type": "string"},
                        "segment": {"type": ["integer", "null"], "minimum": 1},
                        "segment_name": {"type": ["string", "null"]},
                        "distance": number_or_null,
                        "second_distance": number_or_null,
                        "distance_percentile": number_or_null,
                        "outlier": {"type": ["boolean", "null"]},
                        "imputed": {"type": "array", "items": {"type": "string"}},
                        "error": {"type": "string"},
                        "warning": {"type": "string"}
                    }
                },
                "ModelInfo": {
                    "type": "object",
                    "required": ["cardseg_version", "checksum", "features", "fill_values", "format_version", "id_column", "inertia", "k", "k_selection", "limits", "loaded_at", "missing_policy", "n_init", "path", "profile_features", "scaler", "seed", "segments", "silhouette", "training_rows", "training_source"],
                    "properties": {
                        "cardseg_version": {"type": "string"},
                        "checksum": {"$ref": "#/components/schemas/Checksum"},
                        "features": {"type": "array", "items": {"type": "string"}},
                        "fill_values": {"type": "object", "additionalProperties": number_or_null},
                        "format_version": {"type": "integer"},
                        "id_column": {"type": ["string", "null"]},
                        "inertia": number_or_null,
                        "k": {"type": "integer", "minimum": 1},
                        "k_selection": {"type": "object"},
                        "limits": {
                            "type": "object",
                            "required": ["max_body_bytes", "max_customers_per_request"],
                            "properties": {
                                "max_body_bytes": {"type": "integer"},
                                "max_customers_per_request": {"type": "integer"}
                            }
                        },
                        "loaded_at": {"type": "integer", "description": "Unix seconds."},
                        "missing_policy": {"type": "string", "enum": ["median", "mean", "drop"]},
                        "n_init": {"type": "integer"},
                        "path": {"type": "string", "description": "The model's file name (never where it is)."},
                        "profile_features": {"type": "array", "items": {"type": "string"}},
                        "scaler": {"type": "object"},
                        "seed": {"type": "integer"},
                        "segments": {"type": "array", "items": segment},
                        "silhouette": {"type": "object"},
                        "training_rows": {"type": "integer"},
                        "training_source": {"type": "string", "description": "The training data's file name, or its (redacted) URL."}
                    }
                }
    })
}

/// Every route of the API, as the document lists them (method, path).
#[cfg(test)]
pub fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in item.as_object().into_iter().flat_map(|m| m.keys()) {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// The paths the router answers.
#[cfg(test)]
pub fn route_paths() -> &'static [&'static str] {
    super::metrics::known_paths()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_resolvable_references() {
        let doc: Value = serde_json::from_slice(document_bytes()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        // Every $ref points at something in the document.
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|x| refs(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(all.len() > 20);
        for r in all {
            let pointer = r.strip_prefix('#').unwrap();
            assert!(doc.pointer(pointer).is_some(), "dangling {r}");
        }
        let ops = operations(&doc);
        let paths: Vec<&str> = ops.iter().map(|(_, p)| p.as_str()).collect();
        for p in route_paths() {
            assert!(paths.contains(p), "{p} is a route but not in the document");
        }
        assert_eq!(ops.len(), route_paths().len());
    }
}
