//! Helpers shared by this crate's integration tests: a real broker (embedded rumqttd)
//! on a free loopback port.

/// A free loopback port.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts an embedded rumqttd broker on `port` (MQTT 3.1.1, QoS 1 window of 200).
pub(crate) fn start_broker(port: u16) {
    let config = serde_json::json!({
        "id": 0,
        "router": {"id": 0, "max_connections": 100, "max_outgoing_packet_count": 200,
                   "max_segment_size": 104_857_600, "max_segment_count": 10},
        "v4": {"1": {"name": "v4-1", "listen": format!("127.0.0.1:{port}"), "next_connection_delay_ms": 1,
                     "connections": {"connection_timeout_ms": 60000, "max_payload_size": 65536,
                                     "max_inflight_count": 200, "dynamic_filters": true}}}
    });
    let config: rumqttd::Config = serde_json::from_value(config).unwrap();
    std::thread::spawn(move || rumqttd::Broker::new(config).start().unwrap());
}
