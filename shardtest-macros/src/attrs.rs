//! Expansion of the test attributes (owned by the attributes work; placeholder).
use proc_macro2::TokenStream;

pub fn serial(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
pub fn group(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
pub fn flaky(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
pub fn non_critical(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
