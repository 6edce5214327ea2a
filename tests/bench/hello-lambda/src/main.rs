//! The baseline of the init-time benchmark (`tests/bench/lambda_init.py`): a `lambda_runtime`
//! function that does nothing at init and echoes its event.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move { Ok::<Value, Error>(event.payload) })).await
}
