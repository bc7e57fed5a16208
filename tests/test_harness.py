"""The harness itself: the reference server starts and answers."""

from tests.servers import ServerProcess


def test_temporal_server_answers(temporal_server: ServerProcess) -> None:
    import grpc
    from temporalio.api.workflowservice.v1 import request_response_pb2 as rr

    with grpc.insecure_channel(temporal_server.target) as channel:
        call = channel.unary_unary(
            "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo",
            request_serializer=rr.GetSystemInfoRequest.SerializeToString,
            response_deserializer=rr.GetSystemInfoResponse.FromString,
        )
        assert call(rr.GetSystemInfoRequest(), timeout=5).server_version
