<?php
// Nextcloud's side of the data tier, driven the way Nextcloud drives it (PDO pgsql with its
// pgsql_ssl settings, phpredis with an ACL user inside memcache_customprefix, the Redis session
// handler from the rendered ini). Config as JSON on stdin (passwords too); one JSON line out.
declare(strict_types=1);
$cfg = json_decode(stream_get_contents(STDIN), true);
$out = [];
try {
    $pg = $cfg['pg'];
    $dsn = sprintf('pgsql:host=%s;port=%d;dbname=%s;sslmode=%s;sslrootcert=%s', $pg['host'], $pg['port'],
        $pg['dbname'], $pg['sslmode'], $pg['rootcert']);
    $db = new PDO($dsn, $pg['user'], $pg['password'], [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_EMULATE_PREPARES => false]);
    // PDO pgsql prepares server-side (a named statement); Nextcloud reuses statements across transactions.
    $stmt = $db->prepare('SELECT current_user AS u, ?::int AS n');
    $seen = [];
    for ($i = 0; $i < 3; $i++) {
        $db->beginTransaction();
        $stmt->execute([$i]);
        $seen[] = $stmt->fetch(PDO::FETCH_ASSOC);
        $db->commit();
    }
    $out['pg_user'] = $seen[0]['u'];
    $out['pg_rows'] = count($seen);
    $out['pg_ssl'] = $db->query("SELECT 1")->fetchColumn() == 1;
} catch (Throwable $e) {
    $out['pg_error'] = $e->getMessage();
}
try {
    $rc = $cfg['redis'];
    $r = new Redis();
    $r->connect($rc['host'], (int)$rc['port'], 2.0);
    $r->auth([$rc['user'], $rc['password']]);
    $p = $rc['prefix'];
    $key = $p . 'contract/' . getmypid();
    $out['redis_set'] = $r->setex($key, 60, 'v');
    $out['redis_get'] = $r->get($key);
    // memcache.locking: Nextcloud's Lua scripts (compare-and-delete) on its own keys.
    $out['redis_eval'] = $r->eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end", [$key, 'v'], 1);
    $r->setex($key, 60, 'v');
    $out['redis_keys'] = count($r->keys($p . 'contract/*'));  // clear()
    $r->del($key);
    try {
        $r->set('outside-prefix-' . getmypid(), 'x');
        $out['redis_outside'] = 'allowed';
    } catch (RedisException $e) {
        $out['redis_outside'] = $e->getMessage();
    }
    if (!empty($cfg['session'])) {
        // The rendered ini is loaded through PHP_INI_SCAN_DIR: Nextcloud's sessions in Redis.
        session_start();
        $_SESSION['contract'] = 'ok';
        $id = session_id();
        session_write_close();
        $out['session_key'] = $r->exists($cfg['session_prefix'] . $id) ? 1 : 0;
        $r->del($cfg['session_prefix'] . $id);
    }
} catch (Throwable $e) {
    $out['redis_error'] = $e->getMessage();
}
echo json_encode($out), "\n";
