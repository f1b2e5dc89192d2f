import Dispatch
import HTTPClient

enum ControlPlaneClientForTests {
    static let shared = ControlPlaneClient(queue: DispatchQueue(label: "aws-tests.control-plane"))
}
