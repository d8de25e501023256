//! Telemetry starts here, once per process: JSON logs (plain text with `LOG_FORMAT=text`),
//! an OpenTelemetry tracer behind `tracing`, and the W3C trace-context propagator used by
//! [`crate::grpc`] to carry `traceparent` across every RPC. Spans go to an OTLP collector
//! over gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; without it nothing is exported.
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Keeps the tracer provider alive; flushes spans when dropped at the end of `main`.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// The tracer provider of `service`: spans are batched to the OTLP/gRPC collector at
/// `otlp_endpoint` (for example `http://otel-collector:4317`), or kept in-process only when
/// there is none. A collector that cannot be reached never fails the service: the exporter
/// retries in the background and drops what it cannot send. Needs a Tokio runtime.
pub fn tracer_provider(service: &'static str, otlp_endpoint: Option<&str>) -> SdkTracerProvider {
    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build());
    if let Some(endpoint) = otlp_endpoint.map(str::trim).filter(|e| !e.is_empty()) {
        match opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
        {
            Ok(exporter) => builder = builder.with_batch_exporter(exporter),
            // Logging is not up yet: say it on stderr and run without export.
            Err(e) => eprintln!("OTEL_EXPORTER_OTLP_ENDPOINT={endpoint} is not usable: {e}"),
        }
    }
    builder.build()
}

/// Starts logging and tracing for `service`. `RUST_LOG` filters (default `info`);
/// `OTEL_EXPORTER_OTLP_ENDPOINT` turns on span export. Call inside the Tokio runtime.
pub fn init(service: &'static str) -> TelemetryGuard {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok();
    let provider = tracer_provider(service, endpoint.as_deref());
    opentelemetry::global::set_tracer_provider(provider.clone());
    let otel = otel_layer(provider.tracer(service));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let text = std::env::var("LOG_FORMAT").is_ok_and(|v| v == "text");
    // `RUST_LOG` filters logs only; the tracer takes every span at INFO and above (ours),
    // not the DEBUG/TRACE spans of hyper, h2 and tower.
    let _ = tracing_subscriber::registry()
        .with(logs(text, std::io::stdout).with_filter(filter))
        .with(otel.with_filter(LevelFilter::INFO))
        .try_init();
    TelemetryGuard { provider }
}

/// For tests: the same tracer and propagator, logs to the test writer. Safe to call often.
pub fn init_for_tests() {
    static ONCE: std::sync::OnceLock<SdkTracerProvider> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let provider = SdkTracerProvider::builder().build();
        let otel = otel_layer(provider.tracer("test"));
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
        let _ = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_test_writer()
                    .with_filter(filter),
            )
            .with(otel)
            .try_init();
        provider
    });
}

/// The OpenTelemetry layer of every service, and of the tests that check the trace tree.
/// Spans carry their name and fields, not the per-span extras the layer adds by default
/// (source location, thread, busy and idle time), and entering a span does not attach its
/// context as OpenTelemetry's current one, since every propagation here reads the current
/// `tracing` span's context instead ([`crate::grpc`]). Each extra cost an allocation or a
/// clock read on every RPC.
pub fn otel_layer<S>(
    tracer: opentelemetry_sdk::trace::SdkTracer,
) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
}

/// The log lines of every service, JSON (plain text with `text`): the current span's
/// fields (the RPC's name) and, inside a trace, its `trace_id`.
pub fn logs<S, W>(text: bool, writer: W) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let dispatch = DispatchSlot::default();
    let layer = tracing_subscriber::fmt::layer().with_writer(writer);
    if text {
        let format = WithTraceId {
            inner: tracing_subscriber::fmt::format(),
            place: Place::TextPrefix,
            dispatch: dispatch.clone(),
        };
        layer.event_format(format).and_then(dispatch).boxed()
    } else {
        let format = WithTraceId {
            inner: tracing_subscriber::fmt::format()
                .json()
                .with_current_span(true)
                .with_span_list(false),
            place: Place::JsonField,
            dispatch: dispatch.clone(),
        };
        layer
            .fmt_fields(SpanJson)
            .event_format(format)
            .and_then(dispatch)
            .boxed()
    }
}

/// The subscriber a [`WithTraceId`] formatter runs in, kept when the subscriber is built
/// (this layer does nothing else).
#[derive(Clone, Default)]
struct DispatchSlot(std::sync::Arc<std::sync::OnceLock<tracing::dispatcher::WeakDispatch>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for DispatchSlot {
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        let _ = self.0.set(subscriber.downgrade());
    }
}

/// An event format plus the `trace_id` of the trace the event is in, looked up when a line
/// is written rather than recorded on every RPC span: most RPCs log nothing, and recording
/// a field costs both layers a visit on every call.
struct WithTraceId<F> {
    inner: F,
    place: Place,
    dispatch: DispatchSlot,
}

impl<F> WithTraceId<F> {
    fn trace_id(&self, span: &tracing::span::Id) -> Option<opentelemetry::trace::TraceId> {
        use opentelemetry::trace::TraceContextExt as _;
        let dispatch = self.dispatch.0.get()?.upgrade()?;
        let cx = tracing_opentelemetry::get_otel_context(span, &dispatch)?;
        let id = cx.span().span_context().trace_id();
        (id != opentelemetry::trace::TraceId::INVALID).then_some(id)
    }
}

/// Where a line carries the trace id.
#[derive(Clone, Copy)]
enum Place {
    /// A top-level `"trace_id"` field, added to the object the JSON format wrote.
    JsonField,
    /// `trace_id=...` ahead of the line.
    TextPrefix,
}

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for WithTraceId<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let Some(trace_id) = ctx.lookup_current().and_then(|s| self.trace_id(&s.id())) else {
            return self.inner.format_event(ctx, writer, event);
        };
        match self.place {
            Place::TextPrefix => {
                write!(writer, "trace_id={trace_id} ")?;
                self.inner.format_event(ctx, writer, event)
            }
            Place::JsonField => {
                let mut line = String::with_capacity(256);
                self.inner.format_event(
                    ctx,
                    tracing_subscriber::fmt::format::Writer::new(&mut line),
                    event,
                )?;
                // One JSON object and a newline: reopen the object for the id.
                match line.trim_end().strip_suffix('}') {
                    Some(object) => writeln!(writer, "{object},\"trace_id\":\"{trace_id}\"}}"),
                    None => writer.write_str(&line),
                }
            }
        }
    }
}

/// Span fields for the JSON log lines, as one JSON object written straight out.
/// tracing-subscriber's `JsonFields` builds a map for every span and, when a field is
/// recorded later, parses the object back and writes it again (a tenth of an RPC's CPU in
/// the quota under load when the RPC span recorded its trace id that way). Here a later field is appended to the
/// object; the JSON event formatter reads the object as it reads `JsonFields`' (a field
/// recorded twice keeps its last value).
pub struct SpanJson;

impl<'w> tracing_subscriber::fmt::FormatFields<'w> for SpanJson {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        mut writer: tracing_subscriber::fmt::format::Writer<'w>,
        fields: R,
    ) -> std::fmt::Result {
        let mut out = String::with_capacity(64);
        out.push('{');
        fields.record(&mut JsonObject(&mut out));
        out.push('}');
        writer.write_str(&out)
    }

    fn add_fields(
        &self,
        current: &'w mut tracing_subscriber::fmt::FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> std::fmt::Result {
        if current.fields.is_empty() {
            current.fields.push_str("{}");
        }
        // Reopen the object, append, close it again.
        current.fields.pop();
        fields.record(&mut JsonObject(&mut current.fields));
        current.fields.push('}');
        Ok(())
    }
}

/// Writes each field as `,"name":value` after an object's opening brace or its last field.
struct JsonObject<'a>(&'a mut String);

impl JsonObject<'_> {
    fn key(&mut self, field: &tracing::field::Field) {
        if !self.0.ends_with('{') {
            self.0.push(',');
        }
        json_string(self.0, field.name());
        self.0.push(':');
    }
}

impl tracing::field::Visit for JsonObject<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.key(field);
        json_string(self.0, value);
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.key(field);
        self.0.push_str(&value.to_string());
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.key(field);
        self.0.push_str(&value.to_string());
    }

    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.key(field);
        self.0.push_str(if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            self.0.push_str(&value.to_string());
        } else {
            json_string(self.0, &value.to_string());
        }
    }

    /// Writes the value straight into the object, escaped on the way, with no string of its own.
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        self.key(field);
        self.0.push('"');
        let _ = write!(Escaping(self.0), "{value:?}");
        self.0.push('"');
    }
}

/// Escapes what is written into it for the inside of a JSON string literal.
struct Escaping<'a>(&'a mut String);

impl std::fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        escape(self.0, s);
        Ok(())
    }
}

/// `value` as a JSON string literal.
fn json_string(out: &mut String, value: &str) {
    out.push('"');
    escape(out, value);
    out.push('"');
}

/// `value` escaped for the inside of a JSON string literal.
fn escape(out: &mut String, value: &str) {
    use std::fmt::Write as _;
    if !value.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn log_lines_carry_the_span_fields_recorded_at_creation_and_later() {
        let lines = Lines::default();
        let out = lines.clone();
        let subscriber = tracing_subscriber::registry().with(logs(false, move || out.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "rpc",
                otel.name = %"antrean.v1.QuotaService/Hold",
                seats = 2u64,
                shown = %"kutip \" garis \\ baris\nbaru \u{1}",
                late = tracing::field::Empty,
                trace_id = tracing::field::Empty,
            );
            span.record("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736");
            span.record("late", "kutip \" garis \\ baris\nbaru \u{1}");
            let _in = span.enter();
            tracing::info!(kode = "BGR-1", "pesan");
            let empty = tracing::info_span!("empty", trace_id = tracing::field::Empty);
            empty.record("trace_id", "abc");
            let _in = empty.enter();
            tracing::info!("kedua");
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let mut logged = text.lines().map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}"))
        });
        let first = logged.next().unwrap();
        let span = &first["span"];
        assert_eq!(span["name"], "rpc");
        assert_eq!(span["otel.name"], "antrean.v1.QuotaService/Hold");
        assert_eq!(span["seats"], 2);
        assert_eq!(span["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(span["late"], "kutip \" garis \\ baris\nbaru \u{1}");
        assert_eq!(span["shown"], span["late"]);
        assert_eq!(first["fields"]["kode"], "BGR-1");
        let second = logged.next().unwrap();
        assert_eq!(second["span"]["name"], "empty");
        assert_eq!(second["span"]["trace_id"], "abc");
    }

    /// Logs `di luar` outside any span, `di dalam` in a child of an RPC span that continues
    /// a caller's trace, `akar baru` in a new root span; answers what was written.
    fn log_in_and_out_of_traces(text: bool) -> String {
        use opentelemetry::trace::TracerProvider as _;
        let lines = Lines::default();
        let out = lines.clone();
        let provider = SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(logs(text, move || out.clone()))
            .with(otel_layer(provider.tracer("test")));
        let propagator = TraceContextPropagator::new();
        let carrier = std::collections::HashMap::from([(
            "traceparent".to_owned(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
        )]);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("di luar");
            let caller =
                opentelemetry::propagation::TextMapPropagator::extract(&propagator, &carrier);
            let rpc = tracing::info_span!("rpc", otel.name = %"antrean.v1.QuotaService/Hold");
            let _ = tracing_opentelemetry::OpenTelemetrySpanExt::set_parent(&rpc, caller);
            let _in = rpc.enter();
            let inner = tracing::info_span!("langkah");
            let _in = inner.enter();
            tracing::warn!(kode = "BGR-1", "di dalam");
            drop(_in);
            let root = tracing::info_span!(parent: None, "akar");
            let _in = root.enter();
            tracing::info!("akar baru");
        });
        String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn log_lines_inside_a_trace_carry_its_trace_id() {
        let text = log_in_and_out_of_traces(false);
        let logged: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(logged.len(), 3, "{text}");
        assert!(logged[0].get("trace_id").is_none(), "{text}");
        assert_eq!(logged[1]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(logged[1]["fields"]["kode"], "BGR-1");
        assert_eq!(logged[1]["span"]["name"], "langkah");
        let fresh = logged[2]["trace_id"]
            .as_str()
            .expect("a root span has a trace");
        assert_eq!(fresh.len(), 32);
        assert_ne!(fresh, "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn text_log_lines_inside_a_trace_carry_its_trace_id() {
        let text = log_in_and_out_of_traces(true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(!lines[0].contains("trace_id="), "{text}");
        assert!(
            lines[1].starts_with("trace_id=4bf92f3577b34da6a3ce929d0e0e4736 ")
                && lines[1].contains("di dalam"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("trace_id=") && !lines[2].contains("4bf92f35"),
            "{text}"
        );
    }
}
