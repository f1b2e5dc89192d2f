/// The version the control-plane client announces in its User-Agent.
enum BuildVersion {
    static let text = "0.1.0"
}
