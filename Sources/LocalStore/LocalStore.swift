/// The store on this machine: /gnu/store and /var/guix, the schema-7 database, registration,
/// canonicalisation, locks, roots, garbage collection, deduplication and verification.
