//! `antrean.v1.NotificationService`.
use antrean_proto::v1 as pb;
use antrean_proto::v1::notification_service_server::{
    NotificationService, NotificationServiceServer,
};
use tonic::{Request, Response, Status};

#[derive(Debug, Clone, Default)]
pub struct NotificationGrpc;

impl NotificationGrpc {
    pub fn into_server(self) -> NotificationServiceServer<Self> {
        NotificationServiceServer::new(self)
    }
}

#[tonic::async_trait]
impl NotificationService for NotificationGrpc {
    async fn send(&self, _: Request<pb::SendRequest>) -> Result<Response<pb::Message>, Status> {
        Err(Status::unimplemented(
            "message delivery is not available yet",
        ))
    }

    async fn get_message(
        &self,
        _: Request<pb::GetMessageRequest>,
    ) -> Result<Response<pb::Message>, Status> {
        Err(Status::unimplemented(
            "message delivery is not available yet",
        ))
    }

    async fn record_status(
        &self,
        _: Request<pb::RecordStatusRequest>,
    ) -> Result<Response<pb::Message>, Status> {
        Err(Status::unimplemented(
            "message delivery is not available yet",
        ))
    }
}
