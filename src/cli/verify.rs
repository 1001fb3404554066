//! `sm-pack verify` and `sm-pack containers`. (Placeholder.)
