//! The SCIM schemas Gatehouse serves (RFC 7643 §4, §7, §8.7): core User, Group and the
//! enterprise User extension, as one table of attribute definitions. The same table answers
//! `/Schemas` and decides how the server treats each attribute: its type, whether it is
//! multi-valued, case-exact (userName is not), mutable, returned, unique.

use serde_json::{json, Value};

pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
}

/// One attribute definition.
#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub ty: Type,
    pub multi: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub: &'static [Attr],
    pub description: &'static str,
}

/// A plain, optional, read-write, case-insensitive string: the common case.
const fn s(name: &'static str, description: &'static str) -> Attr {
    Attr {
        name,
        ty: Type::String,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: Uniqueness::None,
        canonical: &[],
        reference_types: &[],
        sub: &[],
        description,
    }
}

const fn typed(ty: Type, name: &'static str, description: &'static str) -> Attr {
    let mut a = s(name, description);
    a.ty = ty;
    a
}

const fn kind(canonical: &'static [&'static str]) -> Attr {
    let mut a = s("type", "A label indicating the attribute's function.");
    a.canonical = canonical;
    a
}

const PRIMARY: Attr = typed(
    Type::Boolean,
    "primary",
    "Whether this is the preferred value; at most one value may be primary.",
);
const DISPLAY: Attr = s(
    "display",
    "A human-readable name, primarily used for display.",
);

/// A multi-valued attribute of `value`, `display`, `type` and `primary`.
const fn multi(name: &'static str, sub: &'static [Attr], description: &'static str) -> Attr {
    let mut a = s(name, description);
    a.ty = Type::Complex;
    a.multi = true;
    a.sub = sub;
    a
}

const EMAIL_SUB: &[Attr] = &[
    s("value", "Email address for the user."),
    DISPLAY,
    kind(&["work", "home", "other"]),
    PRIMARY,
];
const PHONE_SUB: &[Attr] = &[
    s("value", "Phone number of the user."),
    DISPLAY,
    kind(&["work", "home", "mobile", "fax", "pager", "other"]),
    PRIMARY,
];
const IM_SUB: &[Attr] = &[
    s("value", "Instant messaging address for the user."),
    DISPLAY,
    kind(&["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"]),
    PRIMARY,
];
const PHOTO_SUB: &[Attr] = &[
    {
        let mut a = typed(Type::Reference, "value", "URL of a photo of the user.");
        a.reference_types = &["external"];
        a.case_exact = true;
        a
    },
    DISPLAY,
    kind(&["photo", "thumbnail"]),
    PRIMARY,
];
const ADDRESS_SUB: &[Attr] = &[
    s(
        "formatted",
        "The full mailing address, formatted for display.",
    ),
    s("streetAddress", "The full street address component."),
    s("locality", "The city or locality component."),
    s("region", "The state or region component."),
    s("postalCode", "The zip code or postal code component."),
    s(
        "country",
        "The country name component (ISO 3166-1 alpha-2).",
    ),
    kind(&["work", "home", "other"]),
    PRIMARY,
];
const GROUP_REF_SUB: &[Attr] = &[
    {
        let mut a = s("value", "The identifier of the user's group.");
        a.mutability = Mutability::ReadOnly;
        a
    },
    {
        let mut a = typed(Type::Reference, "$ref", "The URI of the group.");
        a.reference_types = &["User", "Group"];
        a.mutability = Mutability::ReadOnly;
        a
    },
    {
        let mut a = s("display", "A human-readable name of the group.");
        a.mutability = Mutability::ReadOnly;
        a
    },
    {
        let mut a = kind(&["direct", "indirect"]);
        a.mutability = Mutability::ReadOnly;
        a
    },
];
const PLAIN_MULTI_SUB: &[Attr] = &[s("value", "The value."), DISPLAY, kind(&[]), PRIMARY];
const CERT_SUB: &[Attr] = &[
    typed(
        Type::Binary,
        "value",
        "The value of an X.509 certificate (DER, base64).",
    ),
    DISPLAY,
    kind(&[]),
    PRIMARY,
];

const NAME_SUB: &[Attr] = &[
    s("formatted", "The full name, formatted for display."),
    s("familyName", "The family name of the user."),
    s("givenName", "The given name of the user."),
    s("middleName", "The middle name(s) of the user."),
    s("honorificPrefix", "The honorific prefix(es) of the user."),
    s("honorificSuffix", "The honorific suffix(es) of the user."),
];

/// The attributes every resource has (RFC 7643 §3.1): `id` and `meta` the server owns,
/// `externalId` the client's. Validation and rendering handle them by name; this table
/// lets a PATCH path name them like any other attribute (`{"op": "replace", "path":
/// "externalId"}`), with `id` and `meta` refused as read-only.
pub const COMMON_ATTRS: &[Attr] = &[
    {
        let mut a = s(
            "id",
            "The service provider's unique identifier of the resource.",
        );
        a.case_exact = true;
        a.mutability = Mutability::ReadOnly;
        a.returned = Returned::Always;
        a.uniqueness = Uniqueness::Server;
        a
    },
    {
        let mut a = s(
            "externalId",
            "The provisioning client's identifier of the resource.",
        );
        a.case_exact = true;
        a
    },
    {
        let mut a = s("meta", "Resource metadata.");
        a.ty = Type::Complex;
        a.mutability = Mutability::ReadOnly;
        a
    },
];

/// Core User attributes (RFC 7643 §4.1), without the common `id`, `externalId`, `meta`.
pub const USER_ATTRS: &[Attr] = &[
    {
        let mut a = s(
            "userName",
            "Unique identifier for the user, case-insensitive.",
        );
        a.required = true;
        a.uniqueness = Uniqueness::Server;
        a
    },
    {
        let mut a = s("name", "The components of the user's real name.");
        a.ty = Type::Complex;
        a.sub = NAME_SUB;
        a
    },
    s("displayName", "The name of the user, suitable for display."),
    s("nickName", "The casual way to address the user."),
    {
        let mut a = typed(
            Type::Reference,
            "profileUrl",
            "A URI of the user's online profile.",
        );
        a.reference_types = &["external"];
        a
    },
    s("title", "The user's title, such as \"Vice President\"."),
    s(
        "userType",
        "The relationship between the organization and the user.",
    ),
    s(
        "preferredLanguage",
        "The user's preferred written or spoken language.",
    ),
    s("locale", "The user's default location (a language tag)."),
    s("timezone", "The user's time zone (IANA name)."),
    typed(Type::Boolean, "active", "The user's administrative status."),
    {
        let mut a = s("password", "The user's cleartext password; never returned.");
        a.mutability = Mutability::WriteOnly;
        a.returned = Returned::Never;
        a
    },
    multi("emails", EMAIL_SUB, "Email addresses for the user."),
    multi("phoneNumbers", PHONE_SUB, "Phone numbers for the user."),
    multi("ims", IM_SUB, "Instant messaging addresses for the user."),
    multi("photos", PHOTO_SUB, "URLs of photos of the user."),
    multi(
        "addresses",
        ADDRESS_SUB,
        "Physical mailing addresses for the user.",
    ),
    {
        let mut a = multi("groups", GROUP_REF_SUB, "The groups the user belongs to.");
        a.mutability = Mutability::ReadOnly;
        a
    },
    multi(
        "entitlements",
        PLAIN_MULTI_SUB,
        "Entitlements for the user.",
    ),
    multi("roles", PLAIN_MULTI_SUB, "Roles for the user."),
    multi(
        "x509Certificates",
        CERT_SUB,
        "X.509 certificates of the user.",
    ),
];

const MEMBER_SUB: &[Attr] = &[
    {
        let mut a = s("value", "Identifier of the member.");
        a.mutability = Mutability::Immutable;
        a.case_exact = true;
        a
    },
    {
        let mut a = typed(Type::Reference, "$ref", "The URI of the member.");
        a.reference_types = &["User", "Group"];
        a.mutability = Mutability::Immutable;
        a
    },
    {
        let mut a = s("display", "A human-readable name of the member.");
        a.mutability = Mutability::ReadOnly;
        a
    },
    {
        let mut a = kind(&["User", "Group"]);
        a.mutability = Mutability::Immutable;
        a
    },
];

/// Group attributes (RFC 7643 §4.2).
pub const GROUP_ATTRS: &[Attr] = &[
    {
        let mut a = s("displayName", "A human-readable name for the group.");
        a.required = true;
        a
    },
    multi("members", MEMBER_SUB, "A list of members of the group."),
];

const MANAGER_SUB: &[Attr] = &[
    s("value", "The id of the user's manager."),
    {
        let mut a = typed(Type::Reference, "$ref", "The URI of the manager.");
        a.reference_types = &["User"];
        a
    },
    {
        let mut a = s("displayName", "The display name of the manager.");
        a.mutability = Mutability::ReadOnly;
        a
    },
];

/// Enterprise User extension attributes (RFC 7643 §4.3).
pub const ENTERPRISE_ATTRS: &[Attr] = &[
    s(
        "employeeNumber",
        "A string identifier, typically numeric or alphanumeric.",
    ),
    s("costCenter", "Identifies the name of a cost center."),
    s("organization", "Identifies the name of an organization."),
    s("division", "Identifies the name of a division."),
    s("department", "Identifies the name of a department."),
    {
        let mut a = s("manager", "The user's manager.");
        a.ty = Type::Complex;
        a.sub = MANAGER_SUB;
        a
    },
];

/// The attributes of a schema by URN.
pub fn attributes(schema: &str) -> Option<&'static [Attr]> {
    match schema {
        s if s.eq_ignore_ascii_case(USER) => Some(USER_ATTRS),
        s if s.eq_ignore_ascii_case(GROUP) => Some(GROUP_ATTRS),
        s if s.eq_ignore_ascii_case(ENTERPRISE_USER) => Some(ENTERPRISE_ATTRS),
        _ => None,
    }
}

/// Finds an attribute (case-insensitively, as SCIM names are).
pub fn find<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a Attr> {
    attrs.iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

impl Attr {
    /// The RFC 7643 §7 representation.
    pub fn to_json(&self) -> Value {
        let ty = match self.ty {
            Type::String => "string",
            Type::Boolean => "boolean",
            Type::Decimal => "decimal",
            Type::Integer => "integer",
            Type::DateTime => "dateTime",
            Type::Binary => "binary",
            Type::Reference => "reference",
            Type::Complex => "complex",
        };
        let mut v = json!({
            "name": self.name,
            "type": ty,
            "multiValued": self.multi,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": match self.mutability {
                Mutability::ReadOnly => "readOnly",
                Mutability::ReadWrite => "readWrite",
                Mutability::Immutable => "immutable",
                Mutability::WriteOnly => "writeOnly",
            },
            "returned": match self.returned {
                Returned::Always => "always",
                Returned::Never => "never",
                Returned::Default => "default",
                Returned::Request => "request",
            },
            "uniqueness": match self.uniqueness {
                Uniqueness::None => "none",
                Uniqueness::Server => "server",
            },
        });
        if !self.canonical.is_empty() {
            v["canonicalValues"] = json!(self.canonical);
        }
        if self.ty == Type::Reference {
            v["referenceTypes"] = json!(self.reference_types);
        }
        if self.ty == Type::Complex {
            v["subAttributes"] = Value::Array(self.sub.iter().map(Attr::to_json).collect());
        }
        v
    }
}

/// A `/Schemas` resource; `location` is where it is served.
pub fn schema_json(id: &str, location: &str) -> Option<Value> {
    let (name, description) = match id {
        USER => ("User", "User Account"),
        GROUP => ("Group", "Group"),
        ENTERPRISE_USER => ("EnterpriseUser", "Enterprise User"),
        _ => return None,
    };
    let attrs = attributes(id)?;
    Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attrs.iter().map(Attr::to_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": location},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schemas_describe_what_the_rfc_says() {
        let user = schema_json(USER, "https://x/scim/v2/Schemas/u").unwrap();
        let attrs = user["attributes"].as_array().unwrap();
        let user_name = attrs.iter().find(|a| a["name"] == "userName").unwrap();
        assert_eq!(user_name["required"], true);
        assert_eq!(user_name["caseExact"], false);
        assert_eq!(user_name["uniqueness"], "server");
        let password = attrs.iter().find(|a| a["name"] == "password").unwrap();
        assert_eq!(password["returned"], "never");
        assert_eq!(password["mutability"], "writeOnly");
        let emails = attrs.iter().find(|a| a["name"] == "emails").unwrap();
        assert_eq!(emails["multiValued"], true);
        let kinds = &emails["subAttributes"][2]["canonicalValues"];
        assert_eq!(kinds, &json!(["work", "home", "other"]));
        let group = schema_json(GROUP, "l").unwrap();
        let members = &group["attributes"][1];
        assert_eq!(members["subAttributes"][0]["mutability"], "immutable");
        assert!(schema_json(ENTERPRISE_USER, "l").is_some());
        assert!(schema_json("urn:nope", "l").is_none());
        assert!(find(USER_ATTRS, "USERNAME").is_some());
        assert!(attributes(&USER.to_uppercase()).is_some());
    }
}
