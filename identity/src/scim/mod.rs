//! SCIM 2.0 provisioning (RFC 7643/7644) for Microsoft Entra ID and Okta: filters parsed and
//! compiled to SQL (`filter`, `sql`), PATCH with Entra's dialects (`patch`), users, groups and
//! the bearer tokens that authenticate a directory (`tokens`).

pub mod filter;
