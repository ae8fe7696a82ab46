"""``make demo``: the whole loop moving, on synthetic data only. Referrals in the mix of the
commissioner's reports go in at intake; simulated providers take their work (four by polling
their queue, ISVA by signed webhook), accept, reject, contact and close at the rates the
reports give; a table shows each service's work moving."""
