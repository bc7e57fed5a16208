"""Data conversion (mirrors ``temporalio.converter``).

A :py:class:`DataConverter` turns Python values into Temporal payloads and back
(:py:class:`PayloadConverter`), optionally transforms payload bytes
(:py:class:`PayloadCodec`), and turns exceptions into Temporal failures and back
(:py:class:`FailureConverter`). The defaults are wire-compatible with temporalio's.
"""

from perdure.converter._codec import PayloadCodec
from perdure.converter._context import (
    ActivitySerializationContext,
    NexusSerializationContext,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from perdure.converter._data_converter import DataConverter, default
from perdure.converter._failure import (
    DefaultFailureConverter,
    DefaultFailureConverterWithEncodedAttributes,
    FailureConverter,
)
from perdure.converter._payload import (
    AdvancedJSONEncoder,
    BinaryNullPayloadConverter,
    BinaryPlainPayloadConverter,
    BinaryProtoPayloadConverter,
    CompositePayloadConverter,
    DefaultPayloadConverter,
    EncodingPayloadConverter,
    JSONPlainPayloadConverter,
    JSONProtoPayloadConverter,
    JSONTypeConverter,
    JSONTypeConverterUnhandled,
    PayloadConverter,
    TransferTypeConverter,
    transfer_type_convertible,
)
from perdure.converter._search_attributes import (
    decode_search_attributes,
    decode_typed_search_attributes,
    encode_search_attribute_values,
    encode_search_attributes,
    encode_typed_search_attribute_value,
)
from perdure.converter._types import value_to_type

PayloadConverter.default = DataConverter.default.payload_converter
FailureConverter.default = DataConverter.default.failure_converter

__all__ = [
    "ActivitySerializationContext",
    "AdvancedJSONEncoder",
    "BinaryNullPayloadConverter",
    "BinaryPlainPayloadConverter",
    "BinaryProtoPayloadConverter",
    "CompositePayloadConverter",
    "DataConverter",
    "DefaultFailureConverter",
    "DefaultFailureConverterWithEncodedAttributes",
    "DefaultPayloadConverter",
    "EncodingPayloadConverter",
    "FailureConverter",
    "JSONPlainPayloadConverter",
    "JSONProtoPayloadConverter",
    "JSONTypeConverter",
    "JSONTypeConverterUnhandled",
    "NexusSerializationContext",
    "PayloadCodec",
    "PayloadConverter",
    "SerializationContext",
    "TransferTypeConverter",
    "WithSerializationContext",
    "WorkflowSerializationContext",
    "decode_search_attributes",
    "decode_typed_search_attributes",
    "default",
    "encode_search_attribute_values",
    "encode_search_attributes",
    "encode_typed_search_attribute_value",
    "transfer_type_convertible",
    "value_to_type",
]
