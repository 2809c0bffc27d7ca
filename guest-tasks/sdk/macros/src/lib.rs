//! The Rust guest SDK's attribute macros: `#[remote]` on a function and
//! `#[actor]` on a class's `impl` block (re-exported as
//! `raylab_guest::remote` and `raylab_guest::actor`; their documentation
//! is there).
//!
//! They read the item with `syn` (so the item is plain Rust that rustfmt
//! formats, any `Result` alias works, `Self` may name the class) and expand
//! into the SDK's hidden declarative generators (`__remote_impl!`,
//! `__actor_impl!`), which hold the generated code in one place. Each also
//! names its item in the crate root's `listed_in_tasks` module, which
//! `tasks!` defines: a function or class missing from `tasks!(..)` is a
//! compile error ("cannot find value `f` in module
//! `crate::listed_in_tasks`") instead of a `no-such-function` at run time.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    Expr, ExprLit, FnArg, GenericArgument, ImplItem, ItemFn, ItemImpl, Lit, LitFloat, Meta, Pat,
    PathArguments, ReturnType, Signature, Token, Type,
};

/// A remote function: see `raylab_guest::remote`.
#[proc_macro_attribute]
pub fn remote(attr: TokenStream, item: TokenStream) -> TokenStream {
    let options = quote!(::raylab_guest::TaskOptions);
    expand(attr, item, options, remote_fn)
}

/// An actor class: see `raylab_guest::actor`.
#[proc_macro_attribute]
pub fn actor(attr: TokenStream, item: TokenStream) -> TokenStream {
    let options = quote!(::raylab_guest::ActorOptions);
    expand(attr, item, options, actor_impl)
}

fn expand<T: syn::parse::Parse>(
    attr: TokenStream,
    item: TokenStream,
    options: TokenStream2,
    generate: fn(TokenStream2, T) -> syn::Result<TokenStream2>,
) -> TokenStream {
    let out = options_expr(attr.into(), options).and_then(|opts| generate(opts, syn::parse(item)?));
    match out {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// The declared options as a builder expression: `key = value` calls
/// `.key(value)` (a tuple value spreads into the arguments: `resource =
/// ("disk", 1)`), a bare `key` calls `.key()`, and `options = EXPR` starts
/// from `EXPR` instead of the default. Whole numbers are accepted where the
/// builder takes `f64` (`num_gpus = 1`), as in Ray.
fn options_expr(attr: TokenStream2, ty: TokenStream2) -> syn::Result<TokenStream2> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(attr)?;
    let mut base = quote!(<#ty as ::std::default::Default>::default());
    let mut calls = TokenStream2::new();
    for meta in metas {
        match meta {
            Meta::Path(p) => {
                let key = p.require_ident()?;
                calls.extend(quote!(.#key()));
            }
            Meta::NameValue(nv) => {
                let key = nv.path.require_ident()?;
                if key == "options" {
                    let value = nv.value;
                    base = quote!(#value);
                    continue;
                }
                let mut args: Vec<Expr> = match nv.value {
                    Expr::Tuple(t) => t.elems.into_iter().collect(),
                    Expr::Paren(p) => vec![*p.expr],
                    v => vec![v],
                };
                // The builder's amounts are `f64`: `num_cpus = 2`, and the
                // amount of `resource = ("disk", 1)`.
                let float_at = match key.to_string().as_str() {
                    "num_cpus" | "num_gpus" => Some(0),
                    "resource" => Some(1),
                    _ => None,
                };
                if let Some(i) = float_at
                    && let Some(arg) = args.get_mut(i)
                {
                    whole_to_float(arg);
                }
                calls.extend(quote_spanned!(key.span()=> .#key(#(#args),*)));
            }
            Meta::List(l) => {
                return Err(syn::Error::new(
                    l.span(),
                    "write options as `key = value` (`num_gpus = 1, max_retries = 3`)",
                ));
            }
        }
    }
    Ok(quote!(#base #calls))
}

/// `1` becomes `1.0` (an unsuffixed whole number where an `f64` goes).
fn whole_to_float(e: &mut Expr) {
    if let Expr::Lit(ExprLit {
        lit: Lit::Int(i), ..
    }) = e
        && i.suffix().is_empty()
    {
        let f = LitFloat::new(&format!("{}.0", i.base10_digits()), i.span());
        *e = Expr::Lit(ExprLit {
            attrs: Vec::new(),
            lit: Lit::Float(f),
        });
    }
}

/// `T` when `ty` is a `Result` (`Result<T, E>`, or an alias `Result<T>`
/// such as `std::io::Result<T>`), else `None`.
fn result_ok(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    if !(1..=2).contains(&args.args.len()) {
        return None;
    }
    match args.args.first()? {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    }
}

/// What the host can call: no generics, not async, no C ABI.
fn check_callable(sig: &Signature, what: &str) -> syn::Result<()> {
    let fail = |span: Span, why: &str| Err(syn::Error::new(span, format!("{what} {why}")));
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return fail(
            sig.generics.span(),
            "cannot be generic: the host calls it by name, with one type per argument \
             (write a concrete function that calls the generic one)",
        );
    }
    if let Some(a) = &sig.asyncness {
        return fail(
            a.span(),
            "cannot be `async`: a task runs to its end in its sandbox",
        );
    }
    if let Some(v) = &sig.variadic {
        return fail(v.span(), "cannot be variadic");
    }
    Ok(())
}

/// The arguments as `name: Type` pairs: a plain binding keeps its name
/// (without `mut`), any other pattern is named by its position.
fn typed_args<'a>(
    inputs: impl Iterator<Item = &'a FnArg>,
    class: Option<&syn::Ident>,
) -> syn::Result<Vec<(syn::Ident, Type)>> {
    inputs
        .enumerate()
        .map(|(i, arg)| match arg {
            FnArg::Typed(t) => {
                let name = match &*t.pat {
                    Pat::Ident(p) if p.subpat.is_none() => p.ident.clone(),
                    _ => format_ident!("arg{i}"),
                };
                let mut ty = (*t.ty).clone();
                if let Some(class) = class {
                    ReplaceSelf(class).visit_type_mut(&mut ty);
                }
                Ok((name, ty))
            }
            FnArg::Receiver(r) => Err(syn::Error::new(
                r.span(),
                "a remote function takes no `self` (an actor's methods go in an `impl` block \
                 marked `#[actor]`)",
            )),
        })
        .collect()
}

/// Replaces `Self` by the class's name in a method's argument and result
/// types (they are also written outside the `impl` block).
struct ReplaceSelf<'a>(&'a syn::Ident);

impl VisitMut for ReplaceSelf<'_> {
    fn visit_type_path_mut(&mut self, p: &mut syn::TypePath) {
        if p.qself.is_none() && p.path.is_ident("Self") {
            p.path = self.0.clone().into();
        }
        syn::visit_mut::visit_type_path_mut(self, p);
    }
}

/// `crate::listed_in_tasks::NAME`: a compile error where `tasks!` does
/// not list the item.
fn listing_check(name: &syn::Ident) -> TokenStream2 {
    quote_spanned!(name.span()=>
        const _: () = crate::listed_in_tasks::#name;
    )
}

fn remote_fn(opts: TokenStream2, f: ItemFn) -> syn::Result<TokenStream2> {
    let sig = &f.sig;
    check_callable(sig, "a remote function")?;
    let name = &sig.ident;
    let vis = &f.vis;
    let args = typed_args(sig.inputs.iter(), None)?;
    let (names, tys): (Vec<_>, Vec<_>) = args.into_iter().unzip();
    let (out, conv) = match &sig.output {
        ReturnType::Default => (
            quote!(()),
            quote!(|r: ()| ::std::result::Result::<(), ::std::string::String>::Ok(r)),
        ),
        ReturnType::Type(_, ty) => match result_ok(ty) {
            Some(ok) => (
                ok.to_token_stream(),
                quote!(|r: #ty| r.map_err(|e| ::std::string::ToString::to_string(&e))),
            ),
            None => (
                ty.to_token_stream(),
                quote!(|r: #ty| ::std::result::Result::<#ty, ::std::string::String>::Ok(r)),
            ),
        },
    };
    let check = listing_check(name);
    Ok(quote! {
        #f
        ::raylab_guest::__remote_impl!(@module #vis #name [#opts] (#(#names : #tys),*) -> #out; #conv);
        #check
    })
}

fn actor_impl(opts: TokenStream2, mut block: ItemImpl) -> syn::Result<TokenStream2> {
    let what = "an actor class";
    if let Some((_, path, _)) = &block.trait_ {
        return Err(syn::Error::new(
            path.span(),
            "`#[actor]` goes on the class's own `impl Name { .. }` block, not a trait's",
        ));
    }
    if !block.generics.params.is_empty() {
        return Err(syn::Error::new(
            block.generics.span(),
            format!("{what} cannot be generic: the host creates it by name"),
        ));
    }
    let class = match &*block.self_ty {
        Type::Path(p) if p.qself.is_none() => p.path.get_ident().cloned(),
        _ => None,
    }
    .ok_or_else(|| {
        syn::Error::new(
            block.self_ty.span(),
            "`#[actor]` needs the class by its plain name (`impl Counter { .. }`)",
        )
    })?;

    let mut ctor = None;
    let mut methods = Vec::new();
    for item in &block.items {
        let ImplItem::Fn(m) = item else { continue };
        let sig = &m.sig;
        let receiver = sig.receiver();
        if sig.ident == "new" && receiver.is_none() {
            check_callable(sig, "an actor's constructor")?;
            let args = typed_args(sig.inputs.iter(), Some(&class))?;
            let kind = match &sig.output {
                ReturnType::Type(_, ty) if result_ok(ty).is_some() => quote!(result),
                _ => quote!(plain),
            };
            ctor = Some((args, kind));
            continue;
        }
        let Some(receiver) = receiver else {
            // An associated function without `self`: a local helper.
            continue;
        };
        if receiver.reference.is_none() || receiver.colon_token.is_some() {
            return Err(syn::Error::new(
                receiver.span(),
                "an actor method takes `&self` or `&mut self` (the actor keeps its state)",
            ));
        }
        check_callable(sig, "an actor method")?;
        let args = typed_args(sig.inputs.iter().skip(1), Some(&class))?;
        let (kind, mut out) = match &sig.output {
            ReturnType::Default => (quote!(plain), syn::parse_quote!(())),
            ReturnType::Type(_, ty) => match result_ok(ty) {
                Some(ok) => (quote!(result), ok.clone()),
                None => (quote!(plain), (**ty).clone()),
            },
        };
        ReplaceSelf(&class).visit_type_mut(&mut out);
        let docs: Vec<_> = m
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .collect();
        let (names, tys): (Vec<_>, Vec<_>) = args.into_iter().unzip();
        let m = &sig.ident;
        methods.push(quote!({ [#(#docs)*] #m (#(#names : #tys),*) #kind #out }));
    }
    let Some((cargs, ckind)) = ctor else {
        return Err(syn::Error::new(
            block.self_ty.span(),
            format!("actor `{class}` needs a constructor in this block: `pub fn new(..) -> Self`"),
        ));
    };
    let (cnames, ctys): (Vec<_>, Vec<_>) = cargs.into_iter().unzip();
    // `new` is the class's constructor (it takes the arguments of
    // `C::remote(..)`), not a stand-in for `Default`.
    block
        .attrs
        .push(syn::parse_quote!(#[allow(clippy::new_without_default)]));
    let check = listing_check(&class);
    Ok(quote! {
        #block
        ::raylab_guest::__actor_impl!(@methods [pub #class [#opts]]
            [(#(#cnames : #ctys),*) #ckind]
            [#(#methods)*]);
        #check
    })
}
