/*M!999999\- enable the sandbox mode */ 
-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
--
-- Host: 127.0.0.1    Database: drtest_sample
-- ------------------------------------------------------
-- Server version	10.11.19-MariaDB-0+deb12u1

/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET @OLD_CHARACTER_SET_RESULTS=@@CHARACTER_SET_RESULTS */;
/*!40101 SET @OLD_COLLATION_CONNECTION=@@COLLATION_CONNECTION */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET @OLD_TIME_ZONE=@@TIME_ZONE */;
/*!40103 SET TIME_ZONE='+00:00' */;
/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;
/*!40111 SET @OLD_SQL_NOTES=@@SQL_NOTES, SQL_NOTES=0 */;

--
-- Table structure for table `audit`
--

DROP TABLE IF EXISTS `audit`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `audit` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `msg` varchar(200) DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB AUTO_INCREMENT=81 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `audit`
--

LOCK TABLES `audit` WRITE;
/*!40000 ALTER TABLE `audit` DISABLE KEYS */;
INSERT INTO `audit` VALUES
(1,'added; back\\slash 1'),
(2,'second; stmt'),
(3,'added; paren),(trick 2'),
(4,'second; stmt'),
(5,'added; say \"hi\" 3'),
(6,'second; stmt'),
(7,'added; ZoÃ« Ãœnal 4'),
(8,'second; stmt'),
(9,'added; semi;colon 5'),
(10,'second; stmt'),
(11,'added; new\nline 6'),
(12,'second; stmt'),
(13,'added; tab	here 7'),
(14,'second; stmt'),
(15,'added; nul\0byte 8'),
(16,'second; stmt'),
(17,'added; -- not a comment 9'),
(18,'second; stmt'),
(19,'added; /* not a comment */ 10'),
(20,'second; stmt'),
(21,'added; #hash 11'),
(22,'second; stmt'),
(23,'added; DELIMITER ;; 12'),
(24,'second; stmt'),
(25,'added; end;; 13'),
(26,'second; stmt'),
(27,'added; `bq` 14'),
(28,'second; stmt'),
(29,'added; \\\' 15'),
(30,'second; stmt'),
(31,'added; \'\'; 16'),
(32,'second; stmt'),
(33,'added; O\'Brien 17'),
(34,'second; stmt'),
(35,'added; back\\slash 18'),
(36,'second; stmt'),
(37,'added; paren),(trick 19'),
(38,'second; stmt'),
(39,'added; say \"hi\" 20'),
(40,'second; stmt'),
(41,'added; ZoÃ« Ãœnal 21'),
(42,'second; stmt'),
(43,'added; semi;colon 22'),
(44,'second; stmt'),
(45,'added; new\nline 23'),
(46,'second; stmt'),
(47,'added; tab	here 24'),
(48,'second; stmt'),
(49,'added; nul\0byte 25'),
(50,'second; stmt'),
(51,'added; -- not a comment 26'),
(52,'second; stmt'),
(53,'added; /* not a comment */ 27'),
(54,'second; stmt'),
(55,'added; #hash 28'),
(56,'second; stmt'),
(57,'added; DELIMITER ;; 29'),
(58,'second; stmt'),
(59,'added; end;; 30'),
(60,'second; stmt'),
(61,'added; `bq` 31'),
(62,'second; stmt'),
(63,'added; \\\' 32'),
(64,'second; stmt'),
(65,'added; \'\'; 33'),
(66,'second; stmt'),
(67,'added; O\'Brien 34'),
(68,'second; stmt'),
(69,'added; back\\slash 35'),
(70,'second; stmt'),
(71,'added; paren),(trick 36'),
(72,'second; stmt'),
(73,'added; say \"hi\" 37'),
(74,'second; stmt'),
(75,'added; ZoÃ« Ãœnal 38'),
(76,'second; stmt'),
(77,'added; semi;colon 39'),
(78,'second; stmt'),
(79,'added; new\nline 40'),
(80,'second; stmt');
/*!40000 ALTER TABLE `audit` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `child`
--

DROP TABLE IF EXISTS `child`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `child` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `parent_id` int(11) DEFAULT NULL,
  `v` double DEFAULT NULL,
  `created` datetime DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `parent_id` (`parent_id`),
  CONSTRAINT `fk_p` FOREIGN KEY (`parent_id`) REFERENCES `parent` (`id`)
) ENGINE=InnoDB AUTO_INCREMENT=61 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `child`
--

LOCK TABLES `child` WRITE;
/*!40000 ALTER TABLE `child` DISABLE KEYS */;
INSERT INTO `child` VALUES
(1,1,0,'2026-11-23 16:04:22'),
(2,2,0.14285714285714285,'2026-11-23 16:04:22'),
(3,3,0.2857142857142857,'2026-11-23 16:04:22'),
(4,4,0.42857142857142855,'2026-11-23 16:04:22'),
(5,5,0.5714285714285714,'2026-11-23 16:04:22'),
(6,6,0.7142857142857143,'2026-11-23 16:04:22'),
(7,7,0.8571428571428571,'2026-11-23 16:04:22'),
(8,8,1,'2026-11-23 16:04:22'),
(9,9,1.1428571428571428,'2026-11-23 16:04:22'),
(10,10,1.2857142857142858,'2026-11-23 16:04:22'),
(11,11,1.4285714285714286,'2026-11-23 16:04:22'),
(12,12,1.5714285714285714,'2026-11-23 16:04:22'),
(13,13,1.7142857142857142,'2026-11-23 16:04:22'),
(14,14,1.8571428571428572,'2026-11-23 16:04:22'),
(15,15,2,'2026-11-23 16:04:22'),
(16,16,2.142857142857143,'2026-11-23 16:04:22'),
(17,17,2.2857142857142856,'2026-11-23 16:04:22'),
(18,18,2.4285714285714284,'2026-11-23 16:04:22'),
(19,19,2.5714285714285716,'2026-11-23 16:04:22'),
(20,20,2.7142857142857144,'2026-11-23 16:04:22'),
(21,21,2.857142857142857,'2026-11-23 16:04:22'),
(22,22,3,'2026-11-23 16:04:22'),
(23,23,3.142857142857143,'2026-11-23 16:04:22'),
(24,24,3.2857142857142856,'2026-11-23 16:04:22'),
(25,25,3.4285714285714284,'2026-11-23 16:04:22'),
(26,26,3.5714285714285716,'2026-11-23 16:04:22'),
(27,27,3.7142857142857144,'2026-11-23 16:04:22'),
(28,28,3.857142857142857,'2026-11-23 16:04:22'),
(29,29,4,'2026-11-23 16:04:22'),
(30,30,4.142857142857143,'2026-11-23 16:04:22'),
(31,31,4.285714285714286,'2026-11-23 16:04:22'),
(32,32,4.428571428571429,'2026-11-23 16:04:22'),
(33,33,4.571428571428571,'2026-11-23 16:04:22'),
(34,34,4.714285714285714,'2026-11-23 16:04:22'),
(35,35,4.857142857142857,'2026-11-23 16:04:22'),
(36,36,5,'2026-11-23 16:04:22'),
(37,37,5.142857142857143,'2026-11-23 16:04:22'),
(38,38,5.285714285714286,'2026-11-23 16:04:22'),
(39,39,5.428571428571429,'2026-11-23 16:04:22'),
(40,40,5.571428571428571,'2026-11-23 16:04:22'),
(41,1,5.714285714285714,'2026-11-23 16:04:22'),
(42,2,5.857142857142857,'2026-11-23 16:04:22'),
(43,3,6,'2026-11-23 16:04:22'),
(44,4,6.142857142857143,'2026-11-23 16:04:22'),
(45,5,6.285714285714286,'2026-11-23 16:04:22'),
(46,6,6.428571428571429,'2026-11-23 16:04:22'),
(47,7,6.571428571428571,'2026-11-23 16:04:22'),
(48,8,6.714285714285714,'2026-11-23 16:04:22'),
(49,9,6.857142857142857,'2026-11-23 16:04:22'),
(50,10,7,'2026-11-23 16:04:22'),
(51,11,7.142857142857143,'2026-11-23 16:04:22'),
(52,12,7.285714285714286,'2026-11-23 16:04:22'),
(53,13,7.428571428571429,'2026-11-23 16:04:22'),
(54,14,7.571428571428571,'2026-11-23 16:04:22'),
(55,15,7.714285714285714,'2026-11-23 16:04:22'),
(56,16,7.857142857142857,'2026-11-23 16:04:22'),
(57,17,8,'2026-11-23 16:04:22'),
(58,18,8.142857142857142,'2026-11-23 16:04:22'),
(59,19,8.285714285714286,'2026-11-23 16:04:22'),
(60,20,8.428571428571429,'2026-11-23 16:04:22');
/*!40000 ALTER TABLE `child` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `empty_one`
--

DROP TABLE IF EXISTS `empty_one`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `empty_one` (
  `id` int(11) NOT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `empty_one`
--

LOCK TABLES `empty_one` WRITE;
/*!40000 ALTER TABLE `empty_one` DISABLE KEYS */;
/*!40000 ALTER TABLE `empty_one` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Table structure for table `parent`
--

DROP TABLE IF EXISTS `parent`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `parent` (
  `id` int(11) NOT NULL,
  `name` varchar(200) DEFAULT NULL,
  `note` text DEFAULT NULL,
  `data` blob DEFAULT NULL,
  `weird``name` int(11) DEFAULT 0,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `parent`
--

LOCK TABLES `parent` WRITE;
/*!40000 ALTER TABLE `parent` DISABLE KEYS */;
INSERT INTO `parent` VALUES
(1,'back\\slash 1','text ; with \' quotes \\ ','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿ%',0),
(2,'paren),(trick 2','text ; with \' quotes \\ text ; with \' quotes \\ ','JK',0),
(3,'say \"hi\" 3','','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿopq',0),
(4,'ZoÃ« Ãœnal 4','text ; with \' quotes \\ ','”•–—',0),
(5,'semi;colon 5','text ; with \' quotes \\ text ; with \' quotes \\ ','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿ¹º»¼½',0),
(6,'new\nline 6','','Şßàáâã',0),
(7,'tab	here 7','text ; with \' quotes \\ ','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿ	',0),
(8,'nul\0byte 8','text ; with \' quotes \\ text ; with \' quotes \\ ','()*+,-./',0),
(9,'-- not a comment 9','','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿMNOPQRSTU',0),
(10,'/* not a comment */ 10','text ; with \' quotes \\ ','rstuvwxyz{',0),
(11,'#hash 11','text ; with \' quotes \\ text ; with \' quotes \\ ','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿ—˜™š›œŸ ¡',0),
(12,'DELIMITER ;; 12','','¼½¾¿ÀÁÂÃÄÅÆÇ',0),
(13,'end;; 13','text ; with \' quotes \\ ','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿáâãäåæçèéêëìí',0),
(14,'`bq` 14','text ; with \' quotes \\ text ; with \' quotes \\ ','	\n\r',0),
(15,'\\\' 15','','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿ+,-./0123456789',0),
(16,'\'\'; 16','text ; with \' quotes \\ ','PQRSTUVWXYZ[\\]^_',0),
(17,'O\'Brien 17','text ; with \' quotes \\ text ; with \' quotes \\ ','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿuvwxyz{|}~€‚ƒ„…',0),
(18,'back\\slash 18','','š›œŸ ¡¢£¤¥¦§¨©ª«',0),
(19,'paren),(trick 19','text ; with \' quotes \\ ','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿ¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑ',0),
(20,'say \"hi\" 20','text ; with \' quotes \\ text ; with \' quotes \\ ','äåæçèéêëìíîïğñòóôõö÷',0),
(21,'ZoÃ« Ãœnal 21','','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿ	\n\r\Z',0),
(22,'semi;colon 22','text ; with \' quotes \\ ','./0123456789:;<=>?@ABC',0),
(23,'new\nline 23','text ; with \' quotes \\ text ; with \' quotes \\ ','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿSTUVWXYZ[\\]^_`abcdefghi',0),
(24,'tab	here 24','','xyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ',0),
(25,'nul\0byte 25','text ; with \' quotes \\ ','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ',0),
(26,'-- not a comment 26','text ; with \' quotes \\ text ; with \' quotes \\ ','ÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛ',0),
(27,'/* not a comment */ 27','','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿçèéêëìíîïğñòóôõö÷øùúûüışÿ\0',0),
(28,'#hash 28','text ; with \' quotes \\ ','\r\Z !\"#$%&\'',0),
(29,'DELIMITER ;; 29','text ; with \' quotes \\ text ; with \' quotes \\ ','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿ123456789:;<=>?@ABCDEFGHIJKLM',0),
(30,'end;; 30','','VWXYZ[\\]^_`abcdefghijklmnopqrs',0),
(31,'`bq` 31','text ; with \' quotes \\ ','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿ{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™',0),
(32,'\\\' 32','text ; with \' quotes \\ text ; with \' quotes \\ ',' ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿',0),
(33,'\'\'; 33','','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäå',0),
(34,'O\'Brien 34','text ; with \' quotes \\ ','êëìíîïğñòóôõö÷øùúûüışÿ\0	\n',0),
(35,'back\\slash 35','text ; with \' quotes \\ text ; with \' quotes \\ ','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿ\Z !\"#$%&\'()*+,-./01',0),
(36,'paren),(trick 36','','456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVW',0),
(37,'say \"hi\" 37','text ; with \' quotes \\ ','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}',0),
(38,'ZoÃ« Ãœnal 38','text ; with \' quotes \\ text ; with \' quotes \\ ','~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£',0),
(39,'semi;colon 39','','\0	\n\r\Z !\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~€‚ƒ„…†‡ˆ‰Š‹Œ‘’“”•–—˜™š›œŸ ¡¢£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîïğñòóôõö÷øùúûüışÿ£¤¥¦§¨©ª«¬­®¯°±²³´µ¶·¸¹º»¼½¾¿ÀÁÂÃÄÅÆÇÈÉ',0),
(40,'new\nline 40','text ; with \' quotes \\ ','ÈÉÊËÌÍÎÏĞÑÒÓÔÕÖ×ØÙÚÛÜİŞßàáâãäåæçèéêëìíîï',0);
/*!40000 ALTER TABLE `parent` ENABLE KEYS */;
UNLOCK TABLES;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;
/*!50003 SET @saved_cs_results     = @@character_set_results */ ;
/*!50003 SET @saved_col_connection = @@collation_connection */ ;
/*!50003 SET character_set_client  = utf8mb4 */ ;
/*!50003 SET character_set_results = utf8mb4 */ ;
/*!50003 SET collation_connection  = utf8mb4_general_ci */ ;
/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;
/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION' */ ;
DELIMITER ;;
/*!50003 CREATE*/ /*!50017 DEFINER=`labadmin`@`127.0.0.1`*/ /*!50003 TRIGGER parent_ai AFTER INSERT ON parent FOR EACH ROW
    BEGIN
      INSERT INTO audit (msg) VALUES (CONCAT('added; ', NEW.name));
      INSERT INTO audit (msg) VALUES ('second; stmt');
    END 
*/;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;
/*!50003 SET character_set_client  = @saved_cs_client */ ;
/*!50003 SET character_set_results = @saved_cs_results */ ;
/*!50003 SET collation_connection  = @saved_col_connection */ ;

--
-- Temporary table structure for view `parent_names`
--

DROP TABLE IF EXISTS `parent_names`;
/*!50001 DROP VIEW IF EXISTS `parent_names`*/;
SET @saved_cs_client     = @@character_set_client;
SET character_set_client = utf8mb4;
/*!50001 CREATE VIEW `parent_names` AS SELECT
 NULL AS `id`,
 NULL AS `name` */;
SET character_set_client = @saved_cs_client;

--
-- Table structure for table `semi;colon table`
--

DROP TABLE IF EXISTS `semi;colon table`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
/*!40101 SET character_set_client = utf8mb4 */;
CREATE TABLE `semi;colon table` (
  `id` int(11) NOT NULL,
  `col ``quoted` varchar(20) DEFAULT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
/*!40101 SET character_set_client = @saved_cs_client */;

--
-- Dumping data for table `semi;colon table`
--

LOCK TABLES `semi;colon table` WRITE;
/*!40000 ALTER TABLE `semi;colon table` DISABLE KEYS */;
INSERT INTO `semi;colon table` VALUES
(0,'v;0\''),
(1,'v;1\''),
(2,'v;2\''),
(3,'v;3\''),
(4,'v;4\'');
/*!40000 ALTER TABLE `semi;colon table` ENABLE KEYS */;
UNLOCK TABLES;

--
-- Dumping events for database 'drtest_sample'
--
/*!50106 SET @save_time_zone= @@TIME_ZONE */ ;
/*!50106 DROP EVENT IF EXISTS `nightly` */;
DELIMITER ;;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;;
/*!50003 SET @saved_cs_results     = @@character_set_results */ ;;
/*!50003 SET @saved_col_connection = @@collation_connection */ ;;
/*!50003 SET character_set_client  = utf8mb4 */ ;;
/*!50003 SET character_set_results = utf8mb4 */ ;;
/*!50003 SET collation_connection  = utf8mb4_general_ci */ ;;
/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;;
/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION' */ ;;
/*!50003 SET @saved_time_zone      = @@time_zone */ ;;
/*!50003 SET time_zone             = 'SYSTEM' */ ;;
/*!50106 CREATE*/ /*!50117 DEFINER=`labadmin`@`127.0.0.1`*/ /*!50106 EVENT `nightly` ON SCHEDULE EVERY 1 DAY ON COMPLETION NOT PRESERVE DISABLE DO DELETE FROM audit WHERE id < 0 
*/ ;;
/*!50003 SET time_zone             = @saved_time_zone */ ;;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;;
/*!50003 SET character_set_client  = @saved_cs_client */ ;;
/*!50003 SET character_set_results = @saved_cs_results */ ;;
/*!50003 SET collation_connection  = @saved_col_connection */ ;;
DELIMITER ;
/*!50106 SET TIME_ZONE= @save_time_zone */ ;

--
-- Dumping routines for database 'drtest_sample'
--
/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;
/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION' */ ;
/*!50003 DROP FUNCTION IF EXISTS `twice` */;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;
/*!50003 SET @saved_cs_results     = @@character_set_results */ ;
/*!50003 SET @saved_col_connection = @@collation_connection */ ;
/*!50003 SET character_set_client  = utf8mb4 */ ;
/*!50003 SET character_set_results = utf8mb4 */ ;
/*!50003 SET collation_connection  = utf8mb4_general_ci */ ;
DELIMITER ;;
CREATE DEFINER=`labadmin`@`127.0.0.1` FUNCTION `twice`(x INT) RETURNS int(11)
    DETERMINISTIC
RETURN x * 2
;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;
/*!50003 SET character_set_client  = @saved_cs_client */ ;
/*!50003 SET character_set_results = @saved_cs_results */ ;
/*!50003 SET collation_connection  = @saved_col_connection */ ;
/*!50003 SET @saved_sql_mode       = @@sql_mode */ ;
/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION' */ ;
/*!50003 DROP PROCEDURE IF EXISTS `count_children` */;
/*!50003 SET @saved_cs_client      = @@character_set_client */ ;
/*!50003 SET @saved_cs_results     = @@character_set_results */ ;
/*!50003 SET @saved_col_connection = @@collation_connection */ ;
/*!50003 SET character_set_client  = utf8mb4 */ ;
/*!50003 SET character_set_results = utf8mb4 */ ;
/*!50003 SET collation_connection  = utf8mb4_general_ci */ ;
DELIMITER ;;
CREATE DEFINER=`labadmin`@`127.0.0.1` PROCEDURE `count_children`(IN pid INT, OUT n INT)
BEGIN
      SELECT COUNT(*) INTO n FROM child WHERE parent_id = pid; -- a comment; with semicolon
      SELECT 'done;' AS s;
    END
;;
DELIMITER ;
/*!50003 SET sql_mode              = @saved_sql_mode */ ;
/*!50003 SET character_set_client  = @saved_cs_client */ ;
/*!50003 SET character_set_results = @saved_cs_results */ ;
/*!50003 SET collation_connection  = @saved_col_connection */ ;

--
-- Final view structure for view `parent_names`
--

/*!50001 DROP VIEW IF EXISTS `parent_names`*/;
/*!50001 SET @saved_cs_client          = @@character_set_client */;
/*!50001 SET @saved_cs_results         = @@character_set_results */;
/*!50001 SET @saved_col_connection     = @@collation_connection */;
/*!50001 SET character_set_client      = utf8mb4 */;
/*!50001 SET character_set_results     = utf8mb4 */;
/*!50001 SET collation_connection      = utf8mb4_general_ci */;
/*!50001 CREATE ALGORITHM=UNDEFINED */
/*!50013 DEFINER=`labadmin`@`127.0.0.1` SQL SECURITY DEFINER */
/*!50001 VIEW `parent_names` AS select `parent`.`id` AS `id`,`parent`.`name` AS `name` from `parent` where `parent`.`name` <> 'x;y' */;
/*!50001 SET character_set_client      = @saved_cs_client */;
/*!50001 SET character_set_results     = @saved_cs_results */;
/*!50001 SET collation_connection      = @saved_col_connection */;
/*!40103 SET TIME_ZONE=@OLD_TIME_ZONE */;

/*!40101 SET SQL_MODE=@OLD_SQL_MODE */;
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
/*!40014 SET UNIQUE_CHECKS=@OLD_UNIQUE_CHECKS */;
/*!40101 SET CHARACTER_SET_CLIENT=@OLD_CHARACTER_SET_CLIENT */;
/*!40101 SET CHARACTER_SET_RESULTS=@OLD_CHARACTER_SET_RESULTS */;
/*!40101 SET COLLATION_CONNECTION=@OLD_COLLATION_CONNECTION */;
/*!40111 SET SQL_NOTES=@OLD_SQL_NOTES */;

-- Dump completed
