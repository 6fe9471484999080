#!/usr/bin/perl
# sentinel-merge.pl NAME RENDERED LIVE > MERGED
# A changed rendered sentinel.conf, with the state the running Sentinel wrote into LIVE kept:
# the address of the master it knows now (replacing the initial master of the rendered
# `sentinel monitor NAME` line; the quorum stays the rendered one), its id, the epochs and the
# replicas and Sentinels it discovered. Lines about other master names are dropped.
use strict;
use warnings;

my ($name, $rendered, $live) = @ARGV;
die "usage: $0 NAME RENDERED LIVE\n" unless defined $live;
open(my $l, "<", $live) or die "$live: $!\n";
my @live = <$l>;
close $l;
my ($ip, $port);
for (@live) {
    ($ip, $port) = ($1, $2) if /^sentinel monitor \Q$name\E (\S+) (\d+) \d+\s*$/i;
}
open(my $r, "<", $rendered) or die "$rendered: $!\n";
while (<$r>) {
    s/^(sentinel monitor \Q$name\E) \S+ \d+ (\d+)\s*$/$1 $ip $port $2\n/i if defined $ip;
    print;
}
close $r;
print "# State kept from the running Sentinel by the platform step:\n";
for (@live) {
    print if /^sentinel (myid|current-epoch) /i
        || /^sentinel (config-epoch|leader-epoch|known-replica|known-sentinel) \Q$name\E /i;
}
