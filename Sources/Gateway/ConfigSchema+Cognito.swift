import Endpoints
import Foundation
import TOMLKit

/// `[cognito]` and its `[[cognito.pool]]` entries of SPEC.md: each pool read by the same rules, with its region from
/// its user pool id, and no two pools that a token's issuer could not tell apart.
extension Schema {
    func readCognito(_ table: TableReader?) -> CognitoSettings {
        if table == nil { problems.add("cognito", "the [cognito] table is required") }
        let table = table ?? TableReader(.init(), path: "cognito", problems)

        var region = table.string("region", default: "")
        if region.isEmpty, !table.has("region") { region = environment["AWS_REGION"] ?? "" }
        if region.isEmpty {
            table.fail("region", "is required (or set AWS_REGION)")
        } else if !Self.isRegion(region) {
            table.fail("region", "\"\(region)\" is not an AWS region name such as \"us-east-1\"")
        }

        let poolID = readUserPoolID(table, region: region)
        let pool = readPoolRules(table, userPoolID: poolID, region: region)

        let secretFile = table.string("client_secret_file", default: "")
        if !secretFile.isEmpty && !FileManager.default.isReadableFile(atPath: secretFile) {
            table.fail("client_secret_file", "cannot read \(secretFile)")
        }

        let clockSkew = table.duration("clock_skew", default: "60s")
        if clockSkew > 600 * Self.secondNs { table.fail("clock_skew", "must be at most 10m") }
        let refresh = table.duration("jwks_refresh", default: "1h", minimum: 10 * Self.secondNs)
        let refetch = table.duration("jwks_min_refetch_interval", default: "10s", minimum: 1 * Self.secondNs)
        let cacheSize = table.int("token_cache_size", default: 10000, range: 0...10_000_000)
        // Cognito's shortest token lifetime: any shorter, every revocation lapses while the tokens it refuses live.
        let revocationTTL = table.duration("revocation_ttl", default: "24h", minimum: 5 * 60 * Self.secondNs)
        let pools = table.tables("pool").map(readExtraPool)
        table.rejectUnknownKeys()
        checkPoolsDistinct(primary: pool, table: table, pools: pools)
        return CognitoSettings(
            region: region, userPoolID: poolID, clientIDs: pool.clientIDs, clientSecretFile: secretFile,
            endpointURL: pool.endpointURL, issuer: pool.issuer, jwksURL: pool.jwksURL, tokenUse: pool.tokenUse,
            clockSkew: clockSkew, jwksRefresh: refresh, jwksMinRefetchInterval: refetch, tokenCacheSize: cacheSize,
            revocationTTL: revocationTTL, pools: pools.map(\.settings)
        )
    }

    /// The `user_pool_id` of [cognito] or of a [[cognito.pool]]: "REGION_ID", where REGION, when `region` is
    /// known, must be it.
    func readUserPoolID(_ table: TableReader, region: String) -> String {
        let poolID = table.string("user_pool_id", default: "")
        if poolID.isEmpty {
            table.fail("user_pool_id", "is required")
        } else if let poolRegion = Self.regionPart(ofUserPoolID: poolID) {
            if !region.isEmpty && poolRegion != region {
                table.fail(
                    "user_pool_id", "belongs to region \(poolRegion), but \(table.keyPath("region")) is \(region)")
            }
        } else {
            table.fail("user_pool_id", "\"\(poolID)\" is not a user pool id such as \"us-east-1_AbCdEf123\"")
        }
        return poolID
    }

    /// What comes before the "_" of a well-formed user pool id, or nil when it is not one.
    static func regionPart(ofUserPoolID poolID: String) -> String? {
        guard let underscore = poolID.firstIndex(of: "_") else { return nil }
        let suffix = poolID[poolID.index(after: underscore)...]
        guard !suffix.isEmpty, suffix.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else { return nil }
        return String(poolID[..<underscore])
    }

    /// The keys every pool has, [cognito] and each [[cognito.pool]] alike: its app clients, endpoint, issuer,
    /// JWKS and token_use. Nothing is inherited from another pool; the endpoint variables of the AWS SDKs apply
    /// to every pool, as they do to every client an SDK makes.
    func readPoolRules(_ table: TableReader, userPoolID poolID: String, region: String) -> UserPoolSettings {
        let clientIDs = table.strings("client_ids", default: [])
        if clientIDs.isEmpty {
            table.fail("client_ids", "is required: list the app clients whose tokens are accepted")
        }
        for id in clientIDs where id.count > 128 || !id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
            table.fail("client_ids", "\"\(id)\" is not an app client id (letters and digits)")
        }
        if Set(clientIDs).count != clientIDs.count { table.fail("client_ids", "lists a client twice") }

        var endpointText = table.string("endpoint_url", default: "")
        var endpointKey = "endpoint_url"
        if endpointText.isEmpty {
            for variable in ["AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", "AWS_ENDPOINT_URL"]
            where !(environment[variable] ?? "").isEmpty {
                endpointText = environment[variable] ?? ""
                endpointKey = "endpoint_url (from \(variable))"
                break
            }
        }
        // Placeholders stand where a value was refused (the problem is recorded): no configuration comes of it.
        var endpoint = Self.unusedURL
        if endpointText.isEmpty {
            // The region's own problem, if any, is already recorded.
            endpoint = (try? HTTPURL("https://cognito-idp.\(region).amazonaws.com")) ?? Self.unusedURL
        } else if let url = controlPlaneURL(
            endpointText, key: table.keyPath(endpointKey), expected: "an http(s) URL without query or credentials")
        {
            endpoint = url.withoutTrailingSlashes()
        }

        var issuer = table.string("issuer", default: "")
        if issuer.isEmpty {
            issuer = "https://cognito-idp.\(region).amazonaws.com/\(poolID)"
        } else {
            _ = controlPlaneURL(issuer, key: table.keyPath("issuer"), expected: "an http(s) URL")
        }

        let jwksText = table.string("jwks_url", default: "")
        var jwksURL = Self.unusedURL
        if jwksText.isEmpty {
            jwksURL = (try? endpoint.appendingPath("/\(poolID)/.well-known/jwks.json")) ?? Self.unusedURL
        } else if let url = controlPlaneURL(
            jwksText, key: table.keyPath("jwks_url"), expected: "an http(s) URL without query or credentials")
        {
            jwksURL = url
        }
        let tokenUse = table.choice("token_use", default: TokenUse.id)
        return UserPoolSettings(
            userPoolID: poolID, region: region, clientIDs: clientIDs, endpointURL: endpoint, issuer: issuer,
            jwksURL: jwksURL, tokenUse: tokenUse)
    }

    struct ReadPool {
        let settings: UserPoolSettings
        let table: TableReader
    }

    /// Keys of [cognito] that hold for every pool: named in a [[cognito.pool]], they are refused with where they go.
    static let globalCognitoKeys = [
        "client_secret_file", "clock_skew", "revocation_ttl", "jwks_refresh", "jwks_min_refetch_interval",
        "token_cache_size",
    ]

    /// One [[cognito.pool]]: its region is its user_pool_id's unless given.
    func readExtraPool(_ table: TableReader) -> ReadPool {
        var region = table.string("region", default: "")
        if !region.isEmpty && !Self.isRegion(region) {
            table.fail("region", "\"\(region)\" is not an AWS region name such as \"us-east-1\"")
        }
        let poolID = readUserPoolID(table, region: region)
        if region.isEmpty, let prefix = Self.regionPart(ofUserPoolID: poolID) {
            if Self.isRegion(prefix) {
                region = prefix
            } else {
                table.fail("region", "is required: the user_pool_id \"\(poolID)\" does not start with a region")
            }
        }
        let settings = readPoolRules(table, userPoolID: poolID, region: region)
        for key in Self.globalCognitoKeys where table.has(key) {
            table.refuse(key, "applies to every pool: set it in [cognito]")
        }
        table.rejectUnknownKeys()
        return ReadPool(settings: settings, table: table)
    }

    /// No two pools share a user_pool_id or an issuer: the issuer picks a token's pool, so it must name one.
    func checkPoolsDistinct(primary: UserPoolSettings, table: TableReader, pools: [ReadPool]) {
        var poolIDs = [primary.userPoolID: table.keyPath("user_pool_id")]
        var issuers = [primary.issuer: table.keyPath("issuer")]
        for pool in pools {
            let id = pool.settings.userPoolID
            if let first = poolIDs[id], !id.isEmpty {
                // Its default issuer is the same too: one problem is enough.
                pool.table.fail("user_pool_id", "\"\(id)\" is already configured by \(first)")
                continue
            }
            poolIDs[id] = pool.table.keyPath("user_pool_id")
            let issuer = pool.settings.issuer
            if let first = issuers[issuer] {
                pool.table.fail("issuer", "\"\(issuer)\" is already the issuer of \(first): it must pick one pool")
            } else {
                issuers[issuer] = pool.table.keyPath("issuer")
            }
        }
    }

    static func isRegion(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 3, let last = parts.last, last.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            return false
        }
        return parts.dropLast().allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isLowercase } }
    }
}
