/// The daemon: listeners, peer credentials, trust, one session per connection.
