"""Reports and trails for people: what a run found, and one subscriber's whole evidence trail."""
