/// Runs a Guix-agnostic sandbox specification (root plan, id maps, network, argv, env, limits)
/// and hands back the exit status and the log; it knows nothing of derivations.
