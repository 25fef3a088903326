//! The SSO setup wizard's presets: for each IdP the console knows (Okta, Microsoft Entra ID,
//! Google Workspace, AD FS, any SAML 2.0 IdP, any OpenID provider), its protocol, the
//! built-in adapter it picks ([`IdpPreset`]) and the steps to follow in that IdP's own admin
//! screens, which name the values the wizard shows for pasting.

use crate::plugins::IdpPreset;

/// SAML or OIDC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    Saml,
    Oidc,
}

/// One preset.
pub(super) struct Preset {
    /// In the wizard's URL.
    pub slug: &'static str,
    pub title: &'static str,
    pub protocol: Protocol,
    /// The built-in adapter that reads this IdP's dialect.
    pub adapter: IdpPreset,
    /// What the admin does at the IdP, in order.
    pub steps: &'static [&'static str],
    /// Where this IdP publishes its metadata, as a hint in the form.
    pub metadata_hint: &'static str,
}

pub(super) const PRESETS: &[Preset] = &[
    Preset {
        slug: "okta",
        title: "Okta",
        protocol: Protocol::Saml,
        adapter: IdpPreset::Okta,
        steps: &[
            "In the Okta Admin Console, open Applications → Applications → Create App Integration and choose SAML 2.0.",
            "Under Configure SAML, set Single sign-on URL to the ACS URL above and Audience URI (SP Entity ID) to the entity ID above. Name ID format: EmailAddress; Application username: Email.",
            "Add attribute statements email → user.email, firstName → user.firstName, lastName → user.lastName, and a group attribute statement named groups (filter: Matches regex .*).",
            "Finish, assign the app to the people or groups who should sign in, then copy the Metadata URL from the app's Sign On tab into the form below.",
        ],
        metadata_hint: "https://your-org.okta.com/app/…/sso/saml/metadata",
    },
    Preset {
        slug: "entra",
        title: "Microsoft Entra ID",
        protocol: Protocol::Saml,
        adapter: IdpPreset::Entra,
        steps: &[
            "In the Microsoft Entra admin center, open Enterprise applications → New application → Create your own application (non-gallery).",
            "Open Single sign-on → SAML. In Basic SAML Configuration set Identifier (Entity ID) to the entity ID above and Reply URL (Assertion Consumer Service URL) to the ACS URL above.",
            "Under Attributes & Claims, add a group claim (security groups, source attribute Group ID). Entra sends groups as object ids: map those ids to roles.",
            "Under SAML Certificates, copy the App Federation Metadata Url into the form below, and assign users and groups to the application.",
        ],
        metadata_hint: "https://login.microsoftonline.com/{tenant}/federationmetadata/2007-06/federationmetadata.xml?appid=…",
    },
    Preset {
        slug: "google",
        title: "Google Workspace",
        protocol: Protocol::Saml,
        adapter: IdpPreset::Google,
        steps: &[
            "In the Google Admin console, open Apps → Web and mobile apps → Add app → Add custom SAML app.",
            "On Google Identity Provider details, download the IdP metadata (option 2) and paste it into the form below: Google publishes no metadata URL.",
            "Under Service provider details, set ACS URL and Entity ID to the values above; Name ID format EMAIL, Name ID Basic Information › Primary email.",
            "Under Attribute mapping, map first and last name, and Group membership to an app attribute named groups. Then turn the app on for the organisational units that should use it.",
        ],
        metadata_hint: "Paste the GoogleIDPMetadata.xml you downloaded",
    },
    Preset {
        slug: "adfs",
        title: "AD FS",
        protocol: Protocol::Saml,
        adapter: IdpPreset::Adfs,
        steps: &[
            "In AD FS Management, open Relying Party Trusts → Add Relying Party Trust → Claims aware, and enter data about the relying party manually: the entity ID above as the relying party identifier, the ACS URL above as the SAML 2.0 WebSSO URL. (Once the connection is created, AD FS can instead import the SP metadata URL above, and keep it current.)",
            "Choose an access control policy and finish the wizard.",
            "Edit the Claim Issuance Policy: Send LDAP Attributes as Claims with E-Mail-Addresses → E-Mail Address, Given-Name → Given Name, Surname → Surname, Token-Groups - Unqualified Names → Group; then transform E-Mail Address into Name ID (Email).",
            "Enter your federation metadata URL in the form below.",
        ],
        metadata_hint: "https://adfs.example.com/FederationMetadata/2007-06/FederationMetadata.xml",
    },
    Preset {
        slug: "saml",
        title: "Other SAML 2.0 IdP",
        protocol: Protocol::Saml,
        adapter: IdpPreset::Generic,
        steps: &[
            "Create a SAML 2.0 application at your IdP with the ACS URL (HTTP-POST binding) and entity ID above; sign the response or the assertion with RSA-SHA256.",
            "Send the user's email address as the NameID (or in an email attribute), and their groups in a groups attribute.",
            "Give the IdP's metadata below (URL or XML), or its entity ID, sign-in URL and signing certificate.",
        ],
        metadata_hint: "https://idp.example.com/metadata",
    },
    Preset {
        slug: "oidc",
        title: "Other OpenID Connect provider",
        protocol: Protocol::Oidc,
        adapter: IdpPreset::Generic,
        steps: &[
            "Register a web application (a confidential client) at your OpenID provider with the redirect URI above.",
            "Allow the authorization code flow. Gatehouse sends PKCE and asks for the openid, email and profile scopes.",
            "Enter the provider's issuer, and the client ID and secret it gave you, below. Gatehouse reads everything else from the issuer's discovery document.",
        ],
        metadata_hint: "https://accounts.example.com",
    },
];

/// The preset with this slug.
pub(super) fn find(slug: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.slug == slug)
}
