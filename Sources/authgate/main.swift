import Cryptography

// OpenSSL is initialized first, without its exit handler: reading a configuration with [server.tls]
// already loads certificates, and an OpenSSL initialized by that would race libcurl's cleanup at exit.
CryptographyLibrary.initialize()
// Top-level code is main-actor isolated; everything that runs on loops lives in non-isolated types.
AuthgateCLI.main()
