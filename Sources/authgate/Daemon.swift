import Dispatch
import EventLoop
import Foundation
import Gateway
import Logging

/// Runs the gateway until SIGTERM or SIGINT, then drains and exits 0; SIGHUP reloads the configuration.
final class Daemon: Sendable {
    let config: GatewayConfig
    let configPath: String

    init(config: GatewayConfig, configPath: String) {
        self.config = config
        self.configPath = configPath
    }

    func run() -> Never {
        // Blocked before any other thread exists, so in every thread: SIGTERM, SIGINT and SIGHUP stay pending for
        // the process, where the Dispatch signal sources (a signalfd) take them. The main thread then parks rather
        // than call dispatchMain(), whose pthread_exit hands the main stack to libdispatch's signal thread: its
        // handler then runs in frames AddressSanitizer still holds poisoned, a false report that comes and goes with
        // the frames' layout (google/sanitizers#1669). Nothing uses the main queue.
        var handled = sigset_t()
        sigemptyset(&handled)
        for signalNumber in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&handled, signalNumber) }
        pthread_sigmask(SIG_BLOCK, &handled, nil)
        let format = config.log.format
        let level = config.log.level
        LoggingSystem.bootstrap { label in EventLogHandler(label: label, format: format, level: level) }
        let logger = Logger(label: "authgate")
        signal(SIGPIPE, SIG_IGN)

        let server = GatewayServer(config: config, logger: logger, environment: ProcessInfo.processInfo.environment)

        // Signal sources first: a SIGTERM that arrives once the listeners answer must find its handler.
        let signals = DispatchQueue(label: "authgate.signals")
        var sources: [any DispatchSourceSignal] = []
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: signals)
            source.setEventHandler {
                logger.info("signal", metadata: ["signal": "\(signalNumber == SIGTERM ? "SIGTERM" : "SIGINT")"])
                server.shutdown { exit(0) }
            }
            source.resume()
            sources.append(source)
        }
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: signals)
        let configPath = self.configPath
        hangup.setEventHandler { server.reload(configPath: configPath) }
        hangup.resume()
        sources.append(hangup)
        #if AUTHGATE_TEST_HOOKS
            // Debug builds only (Package.swift, testHookSettings): SIGUSR2 stalls a loop for the watchdog test.
            signal(SIGUSR2, SIG_IGN)
            let stall = DispatchSource.makeSignalSource(signal: SIGUSR2, queue: signals)
            stall.setEventHandler { server.stallEventLoopForTesting() }
            stall.resume()
            sources.append(stall)
        #endif

        do {
            try server.start()
        } catch {
            logger.critical("start failed", metadata: ["error": "\(error)"])
            exit(1)
        }
        let parked = DispatchSemaphore(value: 0)
        withExtendedLifetime(sources) {
            while true { parked.wait() }
        }
        fatalError("the main thread never wakes")
    }
}
