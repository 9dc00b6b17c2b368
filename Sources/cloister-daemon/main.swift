print("cloister-daemon")
