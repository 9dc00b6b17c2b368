/// Goals and scheduling, build users, the plan that turns a derivation into a sandbox
/// specification, logs, output checks and registration.
