package twilio

// AudioURLForTest signs an audio URL as the webhooks do.
func AudioURLForTest(d *Driver, name string) string { return d.audioURL(name) }
