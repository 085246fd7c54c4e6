//! The Users tab's page, read in the same statement as the session (see `ssr::preload`): a view
//! of the tab then costs one round trip to the database instead of two.

use super::{convert, query_from, UsersQuery, MAX_SEARCH_LEN};
use crate::ssr::preload::{Preloaded, SessionRead, SessionWithData};
use crate::ssr::RequestContext;
use identity::sessions::SessionStore;
use identity::users::UserPage;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// The hook: a GET of `/users` reads the page its URL shows. `None` for anything else, and for
/// a state `list_users` refuses (it then reports the problem itself).
pub fn session_read(method: &http::Method, uri: &http::Uri) -> Option<Box<dyn SessionRead>> {
    if method != http::Method::GET || uri.path() != "/users" {
        return None;
    }
    let params: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let shown = query_from(|key| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()));
    if shown.q.len() > MAX_SEARCH_LEN {
        return None;
    }
    Some(Box::new(UsersPageRead { shown }))
}

struct UsersPageRead {
    shown: UsersQuery,
}

impl SessionRead for UsersPageRead {
    fn resolve<'a>(
        self: Box<Self>,
        sessions: &'a SessionStore,
        token: &'a str,
    ) -> Pin<Box<dyn Future<Output = identity::Result<SessionWithData>> + Send + 'a>> {
        Box::pin(async move {
            let query = convert::query(&self.shown, self.shown.page);
            let resolved = identity::users::resolve_with_page(sessions, token, &query).await?;
            Ok(resolved.map(|(user, page)| {
                let preloaded = page.map(|page| {
                    Preloaded::new(PreloadedUsersPage {
                        query: self.shown,
                        page: Mutex::new(Some(page)),
                    })
                });
                (user, preloaded)
            }))
        })
    }
}

/// A page of the Users tab read with the caller's session, waiting for `list_users`.
struct PreloadedUsersPage {
    /// The state of the table this page is for, as the page's URL gives it.
    query: UsersQuery,
    page: Mutex<Option<UserPage>>,
}

/// The preloaded page if it answers exactly `query`; the first call takes it.
pub(super) fn take(ctx: &RequestContext, query: &UsersQuery) -> Option<UserPage> {
    let preloaded = ctx.preloaded::<PreloadedUsersPage>()?;
    if preloaded.query != *query {
        return None;
    }
    let page = preloaded.page.lock().ok()?.take();
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context_with_page_for(query: UsersQuery) -> RequestContext {
        RequestContext {
            session: None,
            ip: None,
            request_id: "-".into(),
            user_agent: None,
            cookie_header: None,
            preloaded: Some(Preloaded::new(PreloadedUsersPage {
                query,
                page: Mutex::new(Some(UserPage {
                    users: Vec::new(),
                    total: 7,
                    total_is_lower_bound: false,
                })),
            })),
        }
    }

    #[test]
    fn a_preloaded_users_page_answers_only_its_own_query_and_only_once() {
        let shown = UsersQuery {
            q: "ada".into(),
            page: 2,
            ..Default::default()
        };
        let ctx = context_with_page_for(shown.clone());
        let other_page = UsersQuery {
            page: 3,
            ..shown.clone()
        };
        assert!(take(&ctx, &other_page).is_none(), "another page was answered");
        assert_eq!(take(&ctx, &shown).map(|p| p.total), Some(7));
        assert!(take(&ctx, &shown).is_none(), "the page was handed out twice");
    }

    #[test]
    fn only_a_view_of_the_users_tab_asks_for_its_page() {
        let get = http::Method::GET;
        assert!(session_read(&get, &"/users?q=ada+l%C3%A9&page=2".parse().unwrap()).is_some());
        assert!(session_read(&http::Method::POST, &"/users".parse().unwrap()).is_none());
        assert!(session_read(&get, &"/users/new".parse().unwrap()).is_none());
        assert!(session_read(&get, &format!("/users?q={}", "x".repeat(201)).parse().unwrap()).is_none());
    }
}
