import Foundation

/// The profile of the shared files (SPEC.md "Secrets"): `AWS_PROFILE` (default `default`) in the credentials
/// file (`AWS_SHARED_CREDENTIALS_FILE`, `~/.aws/credentials`, sections `[NAME]`) and the config file
/// (`AWS_CONFIG_FILE`, `~/.aws/config`, sections `[profile NAME]` and `[default]`). As in the AWS SDKs, a key
/// of the credentials file overrides the same key of the config file, and keys win over `credential_process`.
enum SharedProfile {
    /// What the profile asks for.
    enum Source: Sendable {
        case keys(AWSCredentials)
        case process(CredentialProcess)
        case webIdentity(WebIdentity)
    }

    static let maxFileBytes = 1 << 20

    /// The profile's credential source; nil when the files hold none for a profile nobody named, so that the
    /// chain goes on to the container endpoint and instance metadata.
    static func source(_ environment: [String: String], now: Int) throws(CredentialError) -> Source? {
        let explicitProfile = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 }
        let profile = explicitProfile ?? "default"
        let credentialsFile = try file(
            environment, variable: "AWS_SHARED_CREDENTIALS_FILE", home: ".aws/credentials",
            explicitProfile: explicitProfile != nil)
        let configFile = try file(
            environment, variable: "AWS_CONFIG_FILE", home: ".aws/config", explicitProfile: explicitProfile != nil)
        let fromCredentials = credentialsFile?.sections[profile]
        let fromConfig =
            configFile?.sections["profile \(profile)"] ?? (profile == "default" ? configFile?.sections["default"] : nil)
        guard fromCredentials != nil || fromConfig != nil else {
            guard explicitProfile != nil else { return nil }
            let paths = [credentialsFile?.path, configFile?.path].compactMap { $0 }
            let looked = paths.isEmpty ? "HOME is not set" : "looked in " + paths.joined(separator: " and ")
            throw CredentialError("profile \(profile) is not in the shared files (\(looked))")
        }
        let values = (fromConfig ?? [:]).merging(fromCredentials ?? [:]) { $1 }
        func value(_ key: String) -> String? { values[key].flatMap { $0.isEmpty ? nil : $0 } }

        if value("aws_access_key_id") != nil || value("aws_secret_access_key") != nil {
            guard let keyID = value("aws_access_key_id"), let secret = value("aws_secret_access_key") else {
                throw CredentialError("profile \(profile) lacks aws_access_key_id or aws_secret_access_key")
            }
            return .keys(
                AWSCredentials(
                    accessKeyID: keyID, secretAccessKey: secret, sessionToken: value("aws_session_token"),
                    source: "shared file profile \(profile)"))
        }
        if let command = value("credential_process") {
            return .process(try CredentialProcess(commandLine: command, profile: profile))
        }
        if let tokenFile = value("web_identity_token_file") {
            guard let roleARN = value("role_arn") else {
                throw CredentialError("profile \(profile) has web_identity_token_file but no role_arn")
            }
            return .webIdentity(
                try WebIdentity(
                    tokenFile: tokenFile, roleARN: roleARN, sessionName: value("role_session_name"),
                    environment: environment, now: now, source: "web identity of profile \(profile)"))
        }
        // Sources authgate does not implement: refused rather than skipped, or the chain would go on to the
        // container or the instance role and sign with another identity than the one configured.
        for (key, what) in [
            ("role_arn", "role_arn (assume role)"), ("sso_session", "sso_session (IAM Identity Center)"),
            ("sso_start_url", "sso_start_url (IAM Identity Center)"), ("login_session", "login_session"),
        ] where value(key) != nil {
            throw CredentialError("profile \(profile) uses \(what), which authgate does not support")
        }
        guard explicitProfile == nil, fromCredentials == nil else {
            throw CredentialError(
                "profile \(profile) has neither aws_access_key_id and aws_secret_access_key, nor credential_process, "
                    + "nor web_identity_token_file")
        }
        return nil
    }

    private struct ParsedFile {
        let path: String
        /// Empty when there is no file at `path`.
        let sections: [String: [String: String]]
    }

    /// The file `variable` names, else `~/<home>`; nil without either. A file that is not there holds no
    /// profile; one that is there but cannot be read is an error when it was named or a profile was.
    private static func file(
        _ environment: [String: String], variable: String, home: String, explicitProfile: Bool
    ) throws(CredentialError) -> ParsedFile? {
        let path: String
        let named = environment[variable].flatMap { $0.isEmpty ? nil : $0 }
        if let named {
            path = named
        } else if let directory = environment["HOME"], !directory.isEmpty {
            path = directory + "/" + home
        } else {
            return nil
        }
        switch BoundedFile.read(path, limit: maxFileBytes) {
        case .success(let bytes?):
            return ParsedFile(path: path, sections: ProfileFileFormat.parse(String(decoding: bytes, as: UTF8.self)))
        case .success(nil):
            return ParsedFile(path: path, sections: [:])
        case .failure(let error):
            if named != nil || explicitProfile { throw error }
            return nil
        }
    }
}

/// The INI format of both shared files: `[section]` headers, `key = value` lines, `#` and `;` comment lines.
/// An indented line under a key with no value belongs to a nested block (`s3 =` then `  key = value`) and is
/// skipped, so that it cannot stand for a profile's own key.
enum ProfileFileFormat {
    static func parse(_ text: String) -> [String: [String: String]] {
        var sections: [String: [String: String]] = [:]
        var current: String?
        var inNestedBlock = false
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            let indented = rawLine.first == " " || rawLine.first == "\t"
            if indented && inNestedBlock { continue }
            inNestedBlock = false
            if line.hasPrefix("[") && line.hasSuffix("]") {
                // "[profile   work]" and "[profile work]" name one profile.
                let words = line.dropFirst().dropLast().split(whereSeparator: { $0 == " " || $0 == "\t" })
                let name = words.map(String.init).joined(separator: " ")
                current = name
                if sections[name] == nil { sections[name] = [:] }
                continue
            }
            guard let section = current, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.isEmpty {
                inNestedBlock = true
                continue
            }
            sections[section]?[key] = value
        }
        return sections
    }
}
