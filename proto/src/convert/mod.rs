//! Domain types to and from the generated protobuf structs. `to_pb` never fails; `from_pb`
//! checks what arrives from the network and names the field that is wrong.

pub(crate) mod fleet;
pub(crate) mod job;
pub(crate) mod records;
pub(crate) mod runs;

use crate::service::FleetError;

/// A message that does not hold what its type promises.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad message: {field}: {message}")]
pub struct ConvertError {
    pub field: &'static str,
    pub message: String,
}

impl ConvertError {
    pub(crate) fn new(field: &'static str, message: impl Into<String>) -> Self {
        ConvertError {
            field,
            message: message.into(),
        }
    }

    pub(crate) fn missing(field: &'static str) -> Self {
        ConvertError::new(field, "missing")
    }
}

impl From<ConvertError> for FleetError {
    fn from(e: ConvertError) -> Self {
        FleetError::InvalidArgument(e.to_string())
    }
}

/// Unwraps a required sub-message.
pub(crate) fn required<T>(value: Option<T>, field: &'static str) -> Result<T, ConvertError> {
    value.ok_or_else(|| ConvertError::missing(field))
}

/// Parses a field with its type's `FromStr`, naming the field on failure.
pub(crate) fn parse<T: std::str::FromStr>(
    text: &str,
    field: &'static str,
) -> Result<T, ConvertError>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e: T::Err| ConvertError::new(field, e.to_string()))
}
