//! The OpenAPI document the UI's types are generated from: checked in as `ui/openapi.json`,
//! it must be what the server serves, and it must be a valid document.

use std::collections::HashSet;

use serde_json::Value;

#[test]
fn the_checked_in_document_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/openapi.json");
    let checked_in = std::fs::read_to_string(&path).expect("ui/openapi.json");
    let served = taskyard_server::http::openapi_json();
    let parse = |s: &str| serde_json::from_str::<Value>(s).expect("json");
    assert!(
        parse(&checked_in) == parse(&served),
        "ui/openapi.json is stale: run `taskyard openapi > ui/openapi.json`, then `npm run gen:api` in ui/"
    );
}

#[test]
fn operations_have_unique_ids_and_parameters_where_they_belong() {
    let doc: Value = serde_json::from_str(&taskyard_server::http::openapi_json()).expect("json");
    let mut ids = HashSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            let id =
                op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().expect("name");
                let in_path = path.contains(&format!("{{{name}}}"));
                assert_eq!(p["in"] == "path", in_path, "{method} {path}: parameter {name} is in {}", p["in"]);
            }
            for (status, response) in op["responses"].as_object().expect("responses") {
                assert!(response.get("description").is_some(), "{method} {path} {status} has no description");
            }
        }
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
