<?php
// Mautic's side of the data tier: PDO mysql with the TLS options its security_local.php adds, and
// Predis (Mautic 5 locks predis/predis 1.1.10, the version Debian ships) through the Sentinels with
// the options of its MAUTIC_CONFIG_PARAMETERS. Config as JSON on stdin; one JSON line out.
declare(strict_types=1);
require_once 'Predis/Autoloader.php';
Predis\Autoloader::register();
$cfg = json_decode(stream_get_contents(STDIN), true);
$out = [];
try {
    $m = $cfg['mysql'];
    $opts = [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION];
    if (!empty($m['ssl_ca'])) {
        $opts[PDO::MYSQL_ATTR_SSL_CA] = $m['ssl_ca'];
        $opts[PDO::MYSQL_ATTR_SSL_VERIFY_SERVER_CERT] = false;
    }
    $db = new PDO(sprintf('mysql:host=%s;port=%d;dbname=%s;charset=utf8mb4', $m['host'], $m['port'], $m['dbname']),
        $m['user'], $m['password'], $opts);
    $t = 'platform_contract_' . getmypid();
    $db->exec("CREATE TABLE `$t` (id INT PRIMARY KEY, v VARCHAR(32)) ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET=utf8mb4");
    $ins = $db->prepare("INSERT INTO `$t` VALUES (?, ?)");
    $ins->execute([1, 'mautic']);
    $out['mysql_read'] = $db->query("SELECT v FROM `$t` WHERE id = 1")->fetchColumn();
    $out['mysql_cipher'] = $db->query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")->fetch(PDO::FETCH_NUM)[1];
    $db->exec("DROP TABLE `$t`");
} catch (Throwable $e) {
    $out['mysql_error'] = $e->getMessage();
}
if (!empty($cfg['redis'])) {
    try {
        $rc = $cfg['redis'];
        $client = new Predis\Client($rc['dsn'], $rc['options']);
        $key = $rc['key_prefix'] . 'contract:' . getmypid();
        $client->setex($key, 60, 'v');
        $out['redis_get'] = $client->get($key);
        // INFO is what Mautic's clear() calls; it also says whom Predis reached.
        $out['redis_role'] = preg_match('/^role:(\w+)/m', $client->executeRaw(['INFO', 'replication']), $mm) ? $mm[1] : null;
        $client->del([$key]);
        try {
            $client->set('outside-prefix-' . getmypid(), 'x');
            $out['redis_outside'] = 'allowed';
        } catch (Throwable $e) {
            $out['redis_outside'] = $e->getMessage();
        }
    } catch (Throwable $e) {
        $out['redis_error'] = $e->getMessage();
    }
}
echo json_encode($out), "\n";
