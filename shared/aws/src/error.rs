//! Mapping SDK failures to the ports' errors: every one names the operation and carries
//! the service's error code and message, or the chain of causes of a transport failure
//! (connection refused, timeout). `DisplayErrorContext` would add the whole raw response
//! (headers, body) in Debug form; the chain alone keeps messages to one readable line.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use leadq_pipeline::{QueueError, StoreError};
use std::error::Error;

/// The name of a store or queue operation, as reported in errors.
pub type StoreOp = &'static str;

/// What an SDK call's failure says: `Code: message` from the service (the HTTP status
/// when it sent no code), else the chain of causes.
pub fn describe<E>(error: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + Error + 'static,
{
    if let SdkError::ServiceError(service) = error {
        let err = service.err();
        let code = match err.code() {
            Some(code) => code.to_string(),
            None => format!("HTTP {}", service.raw().status().as_u16()),
        };
        return format!("{code}: {}", err.message().unwrap_or("(no message)"));
    }
    causes(error)
}

/// An error and its sources, `: `-separated, repeated texts once.
pub fn causes(error: &dyn Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// A backend failure of a store operation.
pub fn sdk_error<E>(operation: StoreOp, error: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + Error + 'static,
{
    StoreError::Backend {
        operation,
        message: describe(&error),
    }
}

/// A backend failure of a queue operation.
pub fn queue_sdk_error<E>(operation: StoreOp, error: SdkError<E, HttpResponse>) -> QueueError
where
    E: ProvideErrorMetadata + Error + 'static,
{
    QueueError::Backend {
        operation,
        message: describe(&error),
    }
}

/// A request that could not be built (a required field was missing).
pub fn built<T>(
    operation: StoreOp,
    result: Result<T, aws_sdk_dynamodb::error::BuildError>,
) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Backend {
        operation,
        message: format!("building the request failed: {e}"),
    })
}

/// A record that could not be encoded as an item.
pub fn encode_error(operation: StoreOp, error: serde_dynamo::Error) -> StoreError {
    StoreError::Backend {
        operation,
        message: format!("encoding the item failed: {error}"),
    }
}

/// A stored item that could not be decoded.
pub fn corrupt(operation: StoreOp, message: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        operation,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_sdk_dynamodb::types::error::ResourceNotFoundException;

    fn response(status: u16) -> HttpResponse {
        let status = aws_smithy_runtime_api::http::StatusCode::try_from(status)
            .unwrap_or_else(|_| unreachable!());
        HttpResponse::new(status, aws_smithy_types::body::SdkBody::empty())
    }

    #[test]
    fn errors_without_a_code_name_the_status() {
        let service = GetItemError::unhandled("boom");
        let err = sdk_error("get_lead", SdkError::service_error(service, response(500)));
        assert!(
            matches!(&err, StoreError::Backend { message, .. } if message.starts_with("HTTP 500: ")),
            "{err}"
        );
    }

    #[test]
    fn service_errors_read_code_and_message() {
        let service = GetItemError::ResourceNotFoundException(
            ResourceNotFoundException::builder()
                .message("Requested resource not found")
                .meta(
                    aws_sdk_dynamodb::error::ErrorMetadata::builder()
                        .code("ResourceNotFoundException")
                        .message("Requested resource not found")
                        .build(),
                )
                .build(),
        );
        let err = sdk_error("get_lead", SdkError::service_error(service, response(400)));
        assert_eq!(
            err,
            StoreError::Backend {
                operation: "get_lead",
                message: "ResourceNotFoundException: Requested resource not found".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "get_lead: storage backend failed: ResourceNotFoundException: Requested resource not found"
        );
    }

    #[test]
    fn transport_errors_read_their_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "Connection refused");
        let err: SdkError<GetItemError, HttpResponse> =
            SdkError::dispatch_failure(aws_sdk_dynamodb::error::ConnectorError::io(Box::new(io)));
        let text = describe(&err);
        assert!(text.starts_with("dispatch failure"), "{text}");
        assert!(text.ends_with("Connection refused"), "{text}");
    }
}
